"""Durable timers and delayed inbox rows, fired through the Clock.

Due times live in the store, so nothing is lost in a crash: at start-up the
first passes fire every timer that fell due while the process was down, a
batch at a time, so that however many are overdue, only one batch is in
memory. Each batch is fired in one store transaction by `TimerFiring`: timer
inputs stepped at once for idle keys, queued in the inboxes of the others.
A delayed event needs no input: its key just becomes runnable once
`not_before_ms` has passed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from ..store import Store, TimerRow
from .activity import Activity
from .clock import Clock
from .wakeloop import WakeLoop

log = logging.getLogger("flowyard.runtime.timers")

FIRE_BATCH = 1000
"""Due timers read and fired per store transaction."""

FIRE_AHEAD = 4
"""Batches written at once: the next batch is read and stepped while the one
before it is being written, so the event loop and the store writer overlap."""

READ_AGAIN_S = 0.01
"""While batches are being written and one more may be, how soon to look for
timers that fell due meanwhile (real seconds: the wait is for the writer)."""

PASS_BATCHES = 64
"""Batches per pass at most; between passes, delayed inputs are looked at too."""

FireTimers = Callable[[Sequence[TimerRow], int], Awaitable[None]]
"""Fires due timer rows read at a time (`TimerFiring.fire`)."""


class TimerService:
    """Fires due timers and wakes keys whose delayed inputs became ready."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        activity: Activity,
        notify: Callable[[str, str], None],
        fire: FireTimers,
    ) -> None:
        self._store = store
        self._fire_rows = fire
        self._clock = clock
        self._notify = notify
        self._delayed_seen_until: int | None = None
        self._more = False
        self._loop = WakeLoop(
            clock, next_due=self._next_due, fire=self._fire, activity=activity, name="flowd-timers"
        )

    def start(self) -> None:
        """Start the timer task; its first pass fires whatever is overdue."""
        self._loop.start()

    def wake(self) -> None:
        """Look again: a commit armed a timer or an ingest stored a delayed input."""
        self._loop.wake()

    async def stop(self) -> None:
        """Stop the timer task (timers stay in the store)."""
        await self._loop.stop()

    async def _next_due(self, now_ms: int) -> int | None:
        if self._more:
            return now_ms
        timer = await self._store.next_timer_due()
        delayed = await self._store.next_not_before_ms(after_ms=now_ms)
        dues = [d for d in (timer, delayed) if d is not None]
        return min(dues) if dues else None

    async def _fire(self, now_ms: int) -> None:
        self._more = await self._fire_due()
        await self._wake_delayed(now_ms)

    async def _fire_due(self) -> bool:
        """Fire the timers due, a batch per store transaction, until none is
        due or `PASS_BATCHES` batches were fired; whether more may be due.

        While up to `FIRE_AHEAD` batches are being written, the next one is
        read and stepped: each read starts after the last row read (a cursor:
        rows are removed only when their batch is written) and takes what is
        due by then, so timers falling due one after another keep the writer
        busy instead of waiting for each other's transactions, and are read
        within `READ_AGAIN_S` of falling due while a transaction is written. Every batch
        read is written, or has failed, before the pass ends, so the next pass
        starts afresh, with timers armed meanwhile for times already past.
        """
        writing: set[asyncio.Future[None]] = set()
        after: TimerRow | None = None
        batches = 0
        try:
            while batches < PASS_BATCHES:
                now_ms = self._clock.now_ms()
                rows = await self._store.due_timers(now_ms, limit=FIRE_BATCH, after=after)
                if rows:
                    writing.add(asyncio.ensure_future(self._fire_rows(rows, now_ms)))
                    after = rows[-1]
                    batches += 1
                if not writing:
                    break
                if not rows or len(writing) >= FIRE_AHEAD:
                    # With a batch slot free, look again soon for timers falling due.
                    timeout = READ_AGAIN_S if len(writing) < FIRE_AHEAD else None
                    done, writing = await asyncio.wait(
                        writing, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    for future in done:
                        future.result()
        finally:
            outcomes = await asyncio.gather(*writing, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return batches >= PASS_BATCHES

    async def _wake_delayed(self, now_ms: int) -> None:
        # Only scan for ready keys when some delayed row became ready since the
        # last scan: the scan also returns keys that are merely busy.
        since = self._delayed_seen_until
        first = await self._store.next_not_before_ms(after_ms=since)
        if first is None or first > now_ms:
            return
        for flow, key in await self._store.keys_with_ready_inbox(now_ms):
            self._notify(flow, key)
        self._delayed_seen_until = now_ms
