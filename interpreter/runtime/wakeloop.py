"""A background task that works when woken or when the Clock reaches a due time.

It asks `next_due(now)` when to run next (None: only when woken) and calls
`fire(now)` then; `wake()` makes it run and look again. The timer service and
the outbox relay are both built on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .activity import Activity
from .clock import Clock
from .tasks import cancel

log = logging.getLogger("flowyard.runtime.wakeloop")

RETRY_AFTER_ERROR_S = 0.5


class WakeLoop:
    """Runs `fire(now_ms)` when woken and whenever the clock reaches `next_due(now_ms)`."""

    def __init__(
        self,
        clock: Clock,
        *,
        next_due: Callable[[int], Awaitable[int | None]],
        fire: Callable[[int], Awaitable[None]],
        activity: Activity,
        name: str,
    ) -> None:
        self._clock = clock
        self._next_due = next_due
        self._fire = fire
        self._activity = activity
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._name = name

    def start(self) -> None:
        """Start the task; its first pass fires whatever is already due."""
        if self._task is None:
            self._wake.clear()  # the first pass looks anyway
            self._activity.enter()
            self._task = asyncio.create_task(self._loop(), name=self._name)

    def wake(self) -> None:
        """Look for the next due time again (it may have moved earlier)."""
        if not self._wake.is_set():
            self._wake.set()
            if self._task is not None:
                self._activity.enter()

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        await cancel(task)

    async def _loop(self) -> None:
        # Invariant: while this task is working it holds one activity unit,
        # plus one more for a pending `wake()`.
        try:
            while True:
                if self._wake.is_set():
                    self._wake.clear()
                    self._activity.leave()
                due: int | None = None
                try:
                    now = self._clock.now_ms()
                    await self._fire(now)
                    due = await self._next_due(self._clock.now_ms())
                except Exception:
                    log.exception("%s failed; trying again shortly", self._name)
                    await self._sleep_real(RETRY_AFTER_ERROR_S)
                    continue
                if self._wake.is_set():
                    continue
                self._activity.leave()
                try:
                    await self._wait(due)
                finally:
                    self._activity.enter()
        except asyncio.CancelledError:
            if self._wake.is_set():
                self._activity.leave()
            self._activity.leave()
            raise

    async def _wait(self, due: int | None) -> None:
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep_until(due)) if due is not None else None
        pending = {waker} if sleeper is None else {waker, sleeper}
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in pending:
                fut.cancel()
            # Let cancelled clock sleepers unregister before the next pass.
            await asyncio.sleep(0)

    async def _sleep_real(self, seconds: float) -> None:
        self._activity.leave()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._activity.enter()
