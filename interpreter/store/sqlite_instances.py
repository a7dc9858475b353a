"""The writer's reads and writes of `instances`: which instances exist, and the
upsert of a transaction's snapshots."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

import orjson

from .base import StepCommit
from .planning import snapshot_row
from .sqlite_bulk import CHUNK, chunks, insert_rows

Instance = tuple[str, str]


def existing(conn: sqlite3.Connection, keys: Sequence[Instance]) -> set[Instance]:
    """Which of `keys` are stored instances.

    Read as one row of JSON, not a row per instance: Python's sqlite3 lets go
    of the GIL for each row, and the writer thread then waits for it (up to the
    switch interval while the event loop runs).
    """
    found: set[Instance] = set()
    for chunk in chunks(keys, CHUNK // 2):
        pairs = ", ".join("(?, ?, ?)" for _ in chunk)
        params = [value for n, (flow, key) in enumerate(chunk) for value in (n, flow, key)]
        (numbers,) = conn.execute(
            f"WITH wanted (n, flow, key) AS (VALUES {pairs}) SELECT json_group_array(wanted.n) "
            "FROM wanted CROSS JOIN instances AS i ON i.flow = wanted.flow AND i.key = wanted.key",
            params,
        ).fetchone()
        found.update(chunk[n] for n in orjson.loads(numbers))
    return found


def write(
    conn: sqlite3.Connection, commits: Mapping[Instance, StepCommit], heads: Mapping[Instance, int]
) -> None:
    """Write each instance's snapshot from its commit in `commits`, with its new
    journal head from `heads` (kept when it has none there)."""
    insert_rows(
        conn,
        "INSERT INTO instances "
        "(flow, key, ir_hash, seq, state, status, snapshot, updated_ms, journal_head)",
        [(*snapshot_row(c), heads.get(instance)) for instance, c in commits.items()],
        " ON CONFLICT (flow, key) DO UPDATE SET ir_hash = excluded.ir_hash, "
        "seq = excluded.seq, state = excluded.state, status = excluded.status, "
        "snapshot = excluded.snapshot, updated_ms = excluded.updated_ms, "
        "journal_head = coalesce(excluded.journal_head, instances.journal_head)",
    )
