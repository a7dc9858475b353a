"""Fixtures for the store tests: a fresh database and builders for commits.

`store` and `backend` are parametrised: every test using them runs on SQLite
(its writes on a thread, and in a writer process) and on PostgreSQL (a
throwaway cluster per session, a fresh schema per test).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from flowyard.interpreter.store import InstanceRow, JournalEntry, StepCommit, Store  # noqa: E402
from store_backends import Backend, schema_number  # noqa: E402

CommitFor = Callable[..., StepCommit]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "flowd.db"


@pytest.fixture(params=["sqlite", "sqlite-process", "postgresql"])
def backend(request: pytest.FixtureRequest, db_path: Path) -> Backend:
    if request.param.startswith("sqlite"):
        return Backend(request.param, db_path)
    cluster = request.getfixturevalue("postgres_cluster")
    return Backend("postgresql", db_path, cluster.dsn, f"t{os.getpid()}_{schema_number()}")


@pytest.fixture
def pg(postgres_cluster: Any, db_path: Path) -> Backend:
    """PostgreSQL only: a fresh schema for this test (tests of PostgreSQL's own ways)."""
    return Backend("postgresql", db_path, postgres_cluster.dsn, f"t{os.getpid()}_{schema_number()}")


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()


def make_commit(
    key: str,
    seq: int = 0,
    *,
    flow: str = "orders",
    state: str = "open",
    status: str = "active",
    at_ms: int = 1_000,
    data: dict[str, Any] | None = None,
    **rest: Any,
) -> StepCommit:
    """The commit of input number `seq` of `flow/key` (the instance is then at seq+1)."""
    snapshot = {"state": state, "data": data or {}, "seq": seq + 1}
    return StepCommit(
        flow=flow,
        key=key,
        instance=InstanceRow(
            flow=flow,
            key=key,
            ir_hash="ir-1",
            seq=seq + 1,
            state=state,
            status=status,
            snapshot=snapshot,
            updated_ms=at_ms,
        ),
        journal=JournalEntry(
            seq=seq, input={"kind": "event", "n": seq}, trace={"to": state}, at_ms=at_ms
        ),
        **rest,
    )


@pytest.fixture
def commit_for() -> CommitFor:
    return make_commit
