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
from .planning import commit_names
from .sqlite_bulk import insert_rows
from .sqlite_instances import Instance
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


_APPEND_HEAD = (
    "INSERT INTO journal (id, flow, key, seq, input, trace, at_ms, prev_id) "
    "SELECT v.column1, v.column2, v.column3, "
    # NULL (refused: NOT NULL) for a seq below the inputs its instance has applied.
    "CASE WHEN v.column8 = 0 AND v.column4 < coalesce(i.seq, 0) THEN NULL ELSE v.column4 END, "
    "v.column5, v.column6, v.column7, "
    "CASE WHEN v.column8 = 0 THEN i.journal_head ELSE v.column8 END "
    "FROM ("
)
_APPEND_TAIL = ") AS v LEFT JOIN instances AS i ON i.flow = v.column2 AND i.key = v.column3"
"""With `_APPEND_HEAD`, around the VALUES of the entries (id, flow, key, seq,
input, trace, at_ms, and the id of the instance's entry before it in the same
write, 0 for its first: that one links to the instance row's head)."""


def append(conn: sqlite3.Connection, commits: Sequence[StepCommit]) -> dict[Instance, int]:
    """Append the journal entries of `commits`, in order; returns the id of each
    instance's newest entry among them (its new `journal_head`).

    An instance's first entry here links to the `journal_head` its row holds,
    and is checked against the row's seq, inside the INSERT: reading the rows
    first would cost a statement (the writer thread's hand-overs of the GIL)
    and its Python. Raises `ConflictError` if an entry's seq is taken: below its
    instance's stored seq (the inputs it has applied), or below an earlier
    entry's of these commits.
    """
    entries = [(c, c.journal) for c in commits if c.journal is not None]
    if not entries:
        return {}
    # One writer: the ids after the largest stored are free until this transaction ends.
    next_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM journal").fetchone()[0]) + 1
    newest: dict[Instance, tuple[int, int]] = {}  # instance -> (its next seq, its newest id)
    rows: list[tuple[object, ...]] = []
    for commit, entry in entries:
        instance = (commit.flow, commit.key)
        seq, prev_id = newest.get(instance, (0, 0))  # prev_id 0: the stored head
        if entry.seq < seq:
            raise ConflictError(
                f"journal entry {entry.seq} of {commit.flow}/{commit.key} is already stored "
                "by a commit before it in the same write"
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
                prev_id,
            )
        )
        newest[instance] = (entry.seq + 1, next_id)
        next_id += 1
    try:
        insert_rows(conn, _APPEND_HEAD, rows, _APPEND_TAIL)
    except sqlite3.IntegrityError as error:
        taken = f"a journal entry of {commit_names(commits)} is already stored"
        raise ConflictError(taken) from error
    return {instance: head for instance, (_, head) in newest.items()}
