"""The writer's reads and writes of `instances`: which instances exist, and the
upsert of a transaction's snapshots (in the row's form: `sqlite_snapshots`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

import orjson

from .base import StepCommit
from .sqlite_bulk import CHUNK, chunks, insert_rows, marks
from .sqlite_snapshots import snapshot_text

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
    if not commits:
        return
    ir_ids = _interned(conn, sorted({c.instance.ir_hash for c in commits.values()}))
    rows: list[tuple[object, ...]] = []
    for instance, c in commits.items():
        snap = c.instance
        text, compact = snapshot_text(snap)
        rows.append(
            (
                snap.flow,
                snap.key,
                ir_ids[snap.ir_hash],
                snap.seq,
                snap.state,
                snap.status,
                text,
                compact,
                snap.updated_ms,
                heads.get(instance),
            )
        )
    insert_rows(
        conn,
        "INSERT INTO instances "
        "(flow, key, ir, seq, state, status, snapshot, compact, updated_ms, journal_head)",
        rows,
        " ON CONFLICT (flow, key) DO UPDATE SET ir = excluded.ir, "
        "seq = excluded.seq, state = excluded.state, status = excluded.status, "
        "snapshot = excluded.snapshot, compact = excluded.compact, "
        "updated_ms = excluded.updated_ms, "
        "journal_head = coalesce(excluded.journal_head, instances.journal_head)",
    )


def _interned(conn: sqlite3.Connection, hashes: Sequence[str]) -> dict[str, int]:
    """The number of each of `hashes` in `ir_names`, adding those it lacks.

    Read in each transaction, not kept: a number added by a transaction that
    is then rolled back would name no hash."""
    found: dict[str, int] = dict(
        conn.execute(
            f"SELECT ir_hash, id FROM ir_names WHERE ir_hash IN ({marks(len(hashes))})", hashes
        ).fetchall()
    )
    for ir_hash in hashes:
        if ir_hash not in found:
            cursor = conn.execute("INSERT INTO ir_names (ir_hash) VALUES (?)", (ir_hash,))
            assert cursor.lastrowid is not None
            found[ir_hash] = cursor.lastrowid
    return found
