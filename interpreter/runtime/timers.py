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

import logging
from collections.abc import Awaitable, Callable, Sequence

from ..store import Store, TimerRow
from .activity import Activity
from .clock import Clock
from .wakeloop import WakeLoop

log = logging.getLogger("flowyard.runtime.timers")

FIRE_BATCH = 1000
"""Due timers read and fired per store transaction."""

FireTimers = Callable[[Sequence[TimerRow], int], Awaitable[int]]
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
        rows = await self._store.due_timers(now_ms, limit=FIRE_BATCH)
        self._more = len(rows) >= FIRE_BATCH
        if rows:
            stepped = await self._fire_rows(rows, now_ms)
            log.debug("%d due timers fired, %d stepped at once", len(rows), stepped)
        await self._wake_delayed(now_ms)

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
