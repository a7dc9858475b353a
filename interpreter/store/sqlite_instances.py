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


class Before(NamedTuple):
    """What a transaction's commits need to know before they write."""

    instances: dict[Instance, StoredInstance]
    """The stored instances among those the commits write."""
    journal_end: int
    """The largest journal id (0: an empty journal)."""


def stored(conn: sqlite3.Connection, keys: Sequence[Instance]) -> Before:
    """The stored instances among `keys`, and where the journal ends.

    Read as one row of JSON, not a row per instance: Python's sqlite3 lets go
    of the GIL for each row, and the writer thread then waits for it (up to the
    switch interval while the event loop runs). A row per instance made commits
    at 19,000 records/s slower than the journal's index had. For the same
    reason the journal's end comes with it, not in a statement of its own.
    """
    found: dict[Instance, StoredInstance] = {}
    journal_end = 0
    for chunk in chunks(keys, CHUNK // 2):
        pairs = ", ".join("(?, ?, ?)" for _ in chunk)
        params = [value for n, (flow, key) in enumerate(chunk) for value in (n, flow, key)]
        journal_end, rows = conn.execute(
            f"WITH wanted (n, flow, key) AS (VALUES {pairs}) "
            "SELECT (SELECT coalesce(max(id), 0) FROM journal), json_group_array(json_array("
            "  wanted.n, i.seq, coalesce(i.journal_head, 0), i.state, i.status)) "
            "FROM wanted CROSS JOIN instances AS i ON i.flow = wanted.flow AND i.key = wanted.key",
            params,
        ).fetchone()
        for n, *row in orjson.loads(rows):
            found[chunk[n]] = StoredInstance(*row)
    return Before(found, journal_end)


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
    new: list[tuple[object, ...]] = []
    for instance, commit in commits.items():
        row = (*snapshot_row(commit), heads.get(instance))
        found = before.get(instance)
        if found is None:
            new.append(row)
            continue
        changes = (commit.instance.state != found.state, commit.instance.status != found.status)
        groups.setdefault(changes, []).append(row)
    if new:
        # A new row is inserted whole whatever its group's SET says.
        groups.setdefault(next(iter(groups), (True, True)), []).extend(new)
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
