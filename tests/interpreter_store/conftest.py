"""Fixtures for the store tests: a fresh database and builders for commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.store import InstanceRow, JournalEntry, SQLiteStore, StepCommit

CommitFor = Callable[..., StepCommit]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "flowd.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(db_path)
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
