"""The writer's reads and writes of `instances`: the rows a transaction's
commits replace, and the upserts that replace them."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from functools import cache
from typing import NamedTuple

import orjson

from .base import StepCommit
from .planning import snapshot_row
from .sqlite_bulk import CHUNK, chunks, insert_rows

Instance = tuple[str, str]


class StoredInstance(NamedTuple):
    """What a transaction needs of an instance's stored row."""

    seq: int
    journal_head: int
    """The id of its newest journal entry; 0 for none."""
    state: str
    status: str


def stored(conn: sqlite3.Connection, keys: Sequence[Instance]) -> dict[Instance, StoredInstance]:
    """The stored instances among `keys`.

    Read as one row of JSON, not a row per instance: Python's sqlite3 lets go
    of the GIL for each row, and the writer thread then waits for it (up to the
    switch interval while the event loop runs). A row per instance made commits
    at 19,000 records/s slower than the journal's index had.
    """
    found: dict[Instance, StoredInstance] = {}
    for chunk in chunks(keys, CHUNK // 2):
        pairs = ", ".join("(?, ?, ?)" for _ in chunk)
        params = [value for n, (flow, key) in enumerate(chunk) for value in (n, flow, key)]
        (rows,) = conn.execute(
            f"WITH wanted (n, flow, key) AS (VALUES {pairs}) "
            "SELECT json_group_array(json_array("
            "  wanted.n, i.seq, coalesce(i.journal_head, 0), i.state, i.status)) "
            "FROM wanted CROSS JOIN instances AS i ON i.flow = wanted.flow AND i.key = wanted.key",
            params,
        ).fetchone()
        for n, *row in orjson.loads(rows):
            found[chunk[n]] = StoredInstance(*row)
    return found


def write(
    conn: sqlite3.Connection,
    commits: Mapping[Instance, StepCommit],
    before: Mapping[Instance, StoredInstance],
    heads: Mapping[Instance, int],
) -> None:
    """Write each instance's snapshot from its commit in `commits`, with its new
    journal head from `heads` (kept when it has none there).

    The rows go in groups by which of the indexed columns (`state`, `status`)
    change: SQLite rewrites an index's entry when an UPDATE sets any of its
    columns, even to the value it had, and most steps keep their status.
    """
    groups: dict[tuple[bool, bool], list[tuple[object, ...]]] = {}
    for instance, commit in commits.items():
        found = before.get(instance)
        changes = (
            (True, True)
            if found is None
            else (commit.instance.state != found.state, commit.instance.status != found.status)
        )
        groups.setdefault(changes, []).append((*snapshot_row(commit), heads.get(instance)))
    for changes, rows in groups.items():
        insert_rows(conn, _UPSERT_HEAD, rows, _upsert_tail(*changes))


_UPSERT_HEAD = (
    "INSERT INTO instances "
    "(flow, key, ir_hash, seq, state, status, snapshot, updated_ms, journal_head)"
)


@cache
def _upsert_tail(state: bool, status: bool) -> str:
    indexed = ("state = excluded.state, " if state else "") + (
        "status = excluded.status, " if status else ""
    )
    return (
        " ON CONFLICT (flow, key) DO UPDATE SET ir_hash = excluded.ir_hash, seq = excluded.seq, "
        f"{indexed}snapshot = excluded.snapshot, updated_ms = excluded.updated_ms, "
        "journal_head = coalesce(excluded.journal_head, instances.journal_head)"
    )
