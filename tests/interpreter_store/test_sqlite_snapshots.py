"""The SQLite store's instance rows: snapshots in their compact form where they
can be, read back equal to what was written whatever their shape; IR hashes
interned."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.store import InstanceRow, SQLiteStore, StepCommit

CommitFor = Callable[..., StepCommit]


def runtime_snapshot(key: str, seq: int, **fields: Any) -> dict[str, Any]:
    """A snapshot in the shape `Instance.to_json` gives, in its order."""
    return {
        "flow": "orders",
        "key": key,
        "ir_hash": "ir-1",
        "seq": seq,
        "state": "open",
        "status": "active",
        "data": {"n": seq},
        "timers": {},
        "deferred": [],
        "pending": None,
        "incident": None,
    } | fields


def with_snapshot(commit: StepCommit, snapshot: dict[str, Any], **row: Any) -> StepCommit:
    return replace(commit, instance=replace(commit.instance, snapshot=snapshot, **row))


def stored(db_path: Path, key: str) -> tuple[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        text, compact = conn.execute(
            "SELECT snapshot, compact FROM instances WHERE key = ?", (key,)
        ).fetchone()
    finally:
        conn.close()
    return str(text), int(compact)


async def test_a_runtime_snapshot_is_stored_compact_and_read_back_equal_in_its_order(
    db_path: Path, commit_for: CommitFor
) -> None:
    snapshot = runtime_snapshot("a", 1)
    async with await SQLiteStore.open(db_path) as store:
        await store.commit(with_snapshot(commit_for("a", 0), snapshot))
        row = await store.load_instance("orders", "a")
        listed = await store.instances("orders", state="open")
        (loaded,) = await store.load_instances([("orders", "a")])
    for found in (row, listed[0], loaded):
        assert found is not None
        assert found.snapshot == snapshot
        assert list(found.snapshot) == list(snapshot)
    assert stored(db_path, "a") == ('{"data":{"n":1}}', 1)


async def test_fields_away_from_their_defaults_stay_in_the_compact_form(
    db_path: Path, commit_for: CommitFor
) -> None:
    snapshot = runtime_snapshot(
        "a",
        1,
        timers={"t": 5},
        deferred=[{"kind": "event"}],
        pending={"transition": "x"},
        incident={"error": "e"},
    )
    async with await SQLiteStore.open(db_path) as store:
        await store.commit(with_snapshot(commit_for("a", 0), snapshot))
        row = await store.load_instance("orders", "a")
    assert row is not None and row.snapshot == snapshot
    text, compact = stored(db_path, "a")
    assert compact == 1 and '"ir_hash"' not in text and '"incident":{"error":"e"}' in text


@pytest.mark.parametrize(
    "snapshot",
    [
        {"state": "open", "data": {}, "seq": 1},  # not the runtime's shape
        runtime_snapshot("a", 1, extra=1),  # a field more
        runtime_snapshot("a", True),  # seq of another type than the column's
        runtime_snapshot("a", 1, state="closed"),  # disagrees with its column
        runtime_snapshot("b", 1),  # another key than the row's
    ],
    ids=["other shape", "extra field", "bool seq", "other state", "other key"],
)
async def test_any_other_snapshot_is_stored_as_given(
    db_path: Path, commit_for: CommitFor, snapshot: dict[str, Any]
) -> None:
    async with await SQLiteStore.open(db_path) as store:
        await store.commit(with_snapshot(commit_for("a", 0), snapshot))
        row = await store.load_instance("orders", "a")
    assert row is not None and row.snapshot == snapshot
    assert stored(db_path, "a")[1] == 0


async def test_ir_hashes_are_interned_once_and_each_instance_reads_back_its_own(
    db_path: Path, commit_for: CommitFor
) -> None:
    async with await SQLiteStore.open(db_path) as store:
        await store.commit_steps([commit_for("a", 0), commit_for("b", 0)])
        moved = replace(
            commit_for("a", 1),
            instance=InstanceRow(
                "orders",
                "a",
                "ir-2",
                2,
                "open",
                "active",
                runtime_snapshot("a", 2, ir_hash="ir-2"),
                7,
            ),
        )
        await store.commit_steps([moved, commit_for("c", 0)])
        found = {
            key: (row.ir_hash, row.snapshot.get("ir_hash"))
            for key in ("a", "b", "c")
            if (row := await store.load_instance("orders", key)) is not None
        }
    assert found == {"a": ("ir-2", "ir-2"), "b": ("ir-1", None), "c": ("ir-1", None)}
    conn = sqlite3.connect(db_path)
    try:
        names = conn.execute("SELECT id, ir_hash FROM ir_names ORDER BY id").fetchall()
    finally:
        conn.close()
    assert names == [(1, "ir-1"), (2, "ir-2")]
