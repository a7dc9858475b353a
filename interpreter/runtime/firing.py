"""Firing a batch of due timers the way arrivals are stepped.

A due timer is an input like an event, and costs as little: the timer service
reads a batch of due rows, and for each key that is idle (nothing in its
inbox, not being stepped) steps the timer input at once and commits the step
in the store transaction that removes the timer row (`Store.ingest` with
`timers_fired` and `applied`), many keys per transaction. A key that is busy
gets the timer input in its inbox, in the same transaction, and its turn
applies it after what is already there.

Exactly once: a timer's row goes in the transaction that journals its input
(stepped or queued), and a row is removed only if it is still due at the time
it was read. Keys whose snapshots are not in memory (after a restart, say)
are loaded with one read per batch, once they are claimed, so the snapshot is
the current one. A row that no longer matches its instance (the timer was
cancelled or re-armed for another time after the row was read) fires nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ..model import Input, TimerInput
from ..store import InboxItem, InboxRow, IngestResult, StepCommit, TimerRow
from .arrivals import Arrivals
from .inbox import InboxCache
from .ingest import stored_rows
from .scheduler import KeyScheduler
from .stepper import InstanceCache, KeyId, KeyStepper

log = logging.getLogger("flowyard.runtime.timers")


class StoreInputs(Protocol):
    """Stores inputs for inboxes (`Store.ingest`, as the runtime wraps it)."""

    def __call__(
        self,
        items: Sequence[InboxItem],
        *,
        timers_fired: Sequence[TimerRow] = ...,
        applied: Sequence[StepCommit | None] = ...,
    ) -> Awaitable[IngestResult]: ...


class TimerFiring:
    """Fires batches of due timer rows: stepped where their keys are idle, queued
    elsewhere (everywhere, with `step_at_once` off: `flowd run --no-step-on-arrival`)."""

    def __init__(
        self,
        *,
        stepper: KeyStepper,
        scheduler: KeyScheduler[KeyId],
        inbox: InboxCache,
        cache: InstanceCache,
        store_inputs: StoreInputs,
        queue: Callable[[Sequence[InboxRow]], None],
        step_at_once: bool = True,
        owns: Callable[[str], bool] = lambda _key: True,
    ) -> None:
        self._stepper = stepper
        self._scheduler = scheduler
        self._inbox = inbox
        self._cache = cache
        self._store_inputs = store_inputs
        self._queue = queue
        self._step_at_once = step_at_once
        self._owns = owns

    async def fire(self, rows: Sequence[TimerRow], now_ms: int) -> None:
        """Fire `rows` (read as due at `now_ms`) in one store transaction.

        Rows of keys this process no longer steps are left to their new holder,
        decided after the last await, right before the write is queued: so a
        partition given up after that waits for the write (`partitions`)."""
        arrivals = Arrivals(
            self._stepper, self._scheduler, self._inbox, self._cache, owns=self._owns
        )
        try:
            kids = dict.fromkeys((row.flow, row.key) for row in rows)
            claimed = arrivals.claim(kids) if self._step_at_once else []
            instances = await self._cache.load_many(claimed) if claimed else {}
            items: list[InboxItem] = []
            inputs: list[Input] = []
            for row in rows:
                instance = instances.get((row.flow, row.key))
                if instance is not None and instance.timers.get(row.timer_id) != row.due_ms:
                    continue  # cancelled or re-armed since the row was read
                inp = TimerInput(row.timer_id, now_ms)
                items.append(InboxItem(row.flow, row.key, inp.to_json(), now_ms))
                inputs.append(inp)
            applied = arrivals.plan_claimed(items, inputs, instances)
            mine = [row for row in rows if self._owns(row.key)]
            if len(mine) < len(rows):
                if not mine:
                    return
                kept = [i for i, item in enumerate(items) if self._owns(item.key)]
                items = [items[i] for i in kept]
                applied = [applied[i] for i in kept] if applied else applied
                rows = mine
            result = await self._store_inputs(items, timers_fired=rows, applied=applied)
            arrivals.settle(result.applied)
            queued = stored_rows(items, result.inbox_ids)
            self._queue(queued)
        finally:
            arrivals.release()
        log.debug(
            "%d due timers: %d stepped, %d queued", len(rows), len(items) - len(queued), len(queued)
        )
