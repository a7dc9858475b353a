"""The SQLite journal: entries appended in `id` order, each instance's linked
newest to oldest.

The journal has no index by instance. Such an index puts every step's entry at
a random place among the index's pages, and each commit then writes each page
it touched whole to the WAL: for transactions of about a hundred records that
was nearly half of what a commit wrote. Instead each entry holds `prev_id`, the
id of its instance's entry before it, and the instance's row holds
`journal_head`, the id of its newest entry; an instance's history is read by
following the links, newest first. Appending writes only the table's last pages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .base import ConflictError, StepCommit
from .sqlite_bulk import insert_rows
from .sqlite_instances import Before, Instance
from .sqlite_rows import JOURNAL_COLUMNS, dumps

_COLUMNS_OF_J = ", ".join(f"j.{c.strip()}" for c in JOURNAL_COLUMNS.split(","))

READ_SQL = (
    "WITH RECURSIVE chain (id) AS ("
    "  SELECT journal_head FROM instances"
    "  WHERE flow = ? AND key = ? AND journal_head IS NOT NULL"
    "  UNION ALL"
    "  SELECT j.prev_id FROM chain CROSS JOIN journal AS j ON j.id = chain.id"
    "  WHERE j.seq > ? AND j.prev_id IS NOT NULL"
    f") SELECT {_COLUMNS_OF_J} FROM chain CROSS JOIN journal AS j ON j.id = chain.id "
    "WHERE j.seq > ? ORDER BY j.seq"
)
"""`Store.journal`'s entries of one instance after a seq; parameters: flow,
key, after_seq, after_seq. The walk stops at the first entry at or below it."""


def append(
    conn: sqlite3.Connection,
    commits: Sequence[StepCommit],
    before: Before,
) -> dict[Instance, int]:
    """Append the journal entries of `commits`, in order; returns the id of each
    instance's newest entry among them (its new `journal_head`). `before` is
    what `sqlite_instances.stored` read of their instances and the journal.

    Raises `ConflictError` if an entry's seq is taken: below its instance's
    stored seq (the inputs it has applied), or below an earlier entry's of
    these commits.
    """
    entries = [(c, c.journal) for c in commits if c.journal is not None]
    if not entries:
        return {}
    applied = {
        (c.flow, c.key): (found.seq, found.journal_head)
        for c, _ in entries
        if (found := before.instances.get((c.flow, c.key))) is not None
    }
    # One writer: the ids after the largest stored are free until this transaction ends.
    next_id = before.journal_end + 1
    rows: list[tuple[object, ...]] = []
    for commit, entry in entries:
        instance = (commit.flow, commit.key)
        seq, prev_id = applied.get(instance, (0, 0))
        if entry.seq < seq:
            raise ConflictError(
                f"journal entry {entry.seq} of {commit.flow}/{commit.key} is already stored "
                f"(the instance has applied {seq} inputs)"
            )
        rows.append(
            (
                next_id,
                commit.flow,
                commit.key,
                entry.seq,
                dumps(entry.input),
                dumps(entry.trace),
                entry.at_ms,
                prev_id or None,
            )
        )
        applied[instance] = (entry.seq + 1, next_id)
        next_id += 1
    insert_rows(
        conn, "INSERT INTO journal (id, flow, key, seq, input, trace, at_ms, prev_id)", rows
    )
    return {instance: head for instance, (_, head) in applied.items()}
