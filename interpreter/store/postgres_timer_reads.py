"""`PostgresStore`'s reads of due timers: of every partition, or (partitioned)
of some, each partition's first rows by its index and then the first of those."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import sqlite_rows as rows
from .base import TimerRow

Fetch = Callable[..., Awaitable[list[Any]]]
"""Runs a query with its parameters; the rows."""

Scalar = Callable[..., Awaitable[Any]]
"""Runs a query with its parameters; the first column of its first row."""


async def due_timers(
    fetch: Fetch, scope: list[int] | None, now_ms: int, limit: int | None, after: TimerRow | None
) -> list[TimerRow]:
    """Timers due at `now_ms`, in due order, after the cursor `after`; of the
    partitions in `scope` (None: all, empty: none)."""
    if scope is not None:
        return await _due_timers_of(fetch, scope, now_ms, limit, after)
    if after is None:
        found = await fetch(
            f"SELECT {rows.TIMER_COLUMNS} FROM timers WHERE due_ms <= $1 "
            "ORDER BY due_ms, flow, key, timer_id LIMIT $2",
            now_ms,
            limit,
        )
    else:
        # The first condition lets the index on due_ms start at the cursor.
        found = await fetch(
            f"SELECT {rows.TIMER_COLUMNS} FROM timers WHERE due_ms <= $1 AND due_ms >= $3 "
            "AND (due_ms, flow, key, timer_id) > ($3, $4, $5, $6) "
            "ORDER BY due_ms, flow, key, timer_id LIMIT $2",
            now_ms,
            limit,
            after.due_ms,
            after.flow,
            after.key,
            after.timer_id,
        )
    return [rows.timer_row(r) for r in found]


async def _due_timers_of(
    fetch: Fetch, scope: list[int], now_ms: int, limit: int | None, after: TimerRow | None
) -> list[TimerRow]:
    if not scope:
        return []
    # Each partition's first `limit` by its index, then the first `limit` of those.
    cursor = (
        ""
        if after is None
        else "AND due_ms >= $4 AND (due_ms, flow, key, timer_id) > ($4, $5, $6, $7) "
    )
    found = await fetch(
        "SELECT t.flow, t.key, t.timer_id, t.due_ms FROM unnest($3::integer[]) "
        "AS p(partition), LATERAL (SELECT flow, key, timer_id, due_ms FROM timers "
        f"WHERE timers.partition = p.partition AND due_ms <= $1 {cursor}"
        "ORDER BY due_ms, flow, key, timer_id LIMIT $2) AS t "
        "ORDER BY t.due_ms, t.flow, t.key, t.timer_id LIMIT $2",
        now_ms,
        limit,
        scope,
        *([] if after is None else [after.due_ms, after.flow, after.key, after.timer_id]),
    )
    return [rows.timer_row(r) for r in found]


async def next_timer_due(scalar: Scalar, scope: list[int] | None) -> int | None:
    """The earliest due time of the partitions in `scope` (None: all, empty: none)."""
    if scope is None:
        value = await scalar("SELECT min(due_ms) FROM timers")
    elif scope:
        value = await scalar(
            "SELECT min(first.due_ms) FROM unnest($1::integer[]) AS p(partition), LATERAL "
            "(SELECT due_ms FROM timers WHERE timers.partition = p.partition "
            "ORDER BY due_ms LIMIT 1) AS first",
            scope,
        )
    else:
        return None
    return None if value is None else int(value)
