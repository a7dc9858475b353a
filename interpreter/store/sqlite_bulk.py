"""Many rows per SQLite statement: the writer's bulk statements' shared parts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import TypeVar

CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(n: int) -> str:
    return ", ".join("?" * n)


def insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[tuple[object, ...]], tail: str = ""
) -> list[int]:
    """Run `head` (an INSERT up to its VALUES) for `rows`, many rows per statement.

    Returns the new rowids in the order of `rows`, which holds for a table whose
    id is AUTOINCREMENT: one statement's rows get consecutive ids. One statement
    for many rows also means few hand-overs of the GIL between this writer
    thread and the event loop, which otherwise wait on each other per row.
    """
    if not rows:
        return []
    columns = len(rows[0])
    per = max(1, min(CHUNK, 30_000 // columns))
    row = "(" + marks(columns) + ")"
    ids: list[int] = []
    for chunk in chunks(rows, per):
        cursor = conn.execute(
            f"{head} VALUES {', '.join([row] * len(chunk))}{tail}",
            list(chain.from_iterable(chunk)),
        )
        last = cursor.lastrowid or 0
        ids.extend(range(last - len(chunk) + 1, last + 1))
    return ids
