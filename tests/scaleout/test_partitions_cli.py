"""`flowd partitions`: who holds each partition of a shared store, and what waits in it."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.cli import main
from flowyard.interpreter.store import InboxItem
from flowyard.interpreter.store.postgres import PostgresStore
from flowyard.interpreter.store.targets import PostgresTarget


@pytest.fixture
def store_url(postgres_cluster: Any, tmp_path: Path) -> str:
    return f"{postgres_cluster.dsn}?schema=parts_{os.getpid()}_{tmp_path.name.replace('-', '_')}"


async def hold_and_fill(store_url: str) -> tuple[str, list[int]]:
    """Claim partitions 0 and 1 (1 twice) of a 4-partition store and store 20
    inputs; the owner id and the inputs waiting per partition."""
    target = PostgresTarget.parse(store_url)
    store = await PostgresStore.open(
        target.dsn, schema=target.schema, partitioned=True, partitions=4
    )
    try:
        await store.claim_partitions(store.owner_id, [0, 1], at_ms=1_000)
        await store.claim_partitions(store.owner_id, [1], at_ms=2_000)
        keys = [f"k{i}" for i in range(20)]
        await store.ingest([InboxItem("f", k, {"kind": "event"}, 5) for k in keys])
        return store.owner_id, [sum(store.partition_of(k) == p for k in keys) for p in range(4)]
    finally:
        await store.close()


def test_partitions_shows_holders_epochs_and_backlog(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    owner, waiting = asyncio.run(hold_and_fill(store_url))

    assert main(["partitions", "--store", store_url, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["partition"], r["epoch"], r["owner"]) for r in rows] == [
        (0, 1, owner),
        (1, 2, owner),
        (2, None, None),
        (3, None, None),
    ]
    assert [r["inbox"] for r in rows] == waiting
    assert rows[1]["claimed_ms"] == 2_000

    assert main(["partitions", "--store", store_url]) == 0
    table = capsys.readouterr().out
    assert "nobody yet" in table
    assert "4 partitions held by 1 flowd" in table


def test_partitions_of_a_sqlite_store_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["partitions", "--store", str(tmp_path / "flowd.db")]) == 1
    assert "a SQLite store has one flowd and no partitions" in capsys.readouterr().err
