"""Clocks for the shell: the only place the runtime learns what time it is.

The core never reads a clock; the shell stamps each input with `Clock.now_ms()`
and sleeps with `Clock.sleep_until()`. `SystemClock` follows the wall clock;
`VirtualClock` only moves when a test (or the scenario runner) advances it, so
timers, backoffs and timeouts of hours run in microseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Milliseconds since the Unix epoch, and a way to wait for a moment."""

    def now_ms(self) -> int:
        """The current time in epoch milliseconds."""
        ...

    async def sleep_until(self, due_ms: int) -> None:
        """Return once `now_ms() >= due_ms` (immediately if it already is)."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, due_ms: int) -> None:
        while True:
            remaining = due_ms - self.now_ms()
            if remaining <= 0:
                return
            await asyncio.sleep(remaining / 1000)


class VirtualClock:
    """A clock that stands still until `advance` or `set` moves it.

    Sleepers wake in due order (ties in the order they went to sleep), and
    each wake-up happens with `now_ms()` equal to the sleeper's due time, like
    trio's `MockClock` jumping to the next deadline. `advance` lets the event
    loop run between wake-ups so that woken tasks can react, and schedule new,
    earlier sleepers, before later ones fire.
    """

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:
        # Default start: 2026-01-01T00:00:00Z, a fixed, readable instant.
        self._now = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_ms(self) -> int:
        return self._now

    async def sleep_until(self, due_ms: int) -> None:
        if due_ms <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (due_ms, next(self._order), future))
        await future

    def next_due_ms(self) -> int | None:
        """The earliest due time of a live sleeper, or None when nobody sleeps."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def set(self, now_ms: int) -> int:
        """Move time forward to `now_ms` and wake every sleeper now due.

        Returns how many sleepers were woken. Time never moves backwards.
        """
        self._now = max(self._now, now_ms)
        woken = 0
        self._drop_cancelled()
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                woken += 1
            self._drop_cancelled()
        return woken

    async def advance(self, ms: int, *, settle_rounds: int = 20) -> None:
        """Move time forward by `ms`, waking sleepers one due time at a time.

        Between wake-ups the event loop runs `settle_rounds` times so woken
        tasks can go back to sleep (possibly earlier than the target) before
        the next due time is reached. The runtime's own `advance` settles on
        real idleness instead; this one suits code that has no such notion.
        """
        target = self._now + ms
        while True:
            due = self.next_due_ms()
            if due is None or due > target:
                break
            self.set(due)
            for _ in range(settle_rounds):
                await asyncio.sleep(0)
        self.set(target)
        for _ in range(settle_rounds):
            await asyncio.sleep(0)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


class ScaledClock:
    """A wall clock whose time runs `speed` times faster, for demos.

    Time starts at the wall-clock time of construction (or `start_ms`) and then
    advances `speed` milliseconds per real millisecond, so with `speed=3600` an
    `after: 1h` timer fires after one real second.
    """

    def __init__(self, speed: float, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("the clock speed must be positive")
        self._speed = speed
        self._origin_ms = start_ms if start_ms is not None else time.time_ns() // 1_000_000
        self._origin_real = time.monotonic()

    @property
    def speed(self) -> float:
        """How many flow milliseconds pass per real millisecond."""
        return self._speed

    def now_ms(self) -> int:
        elapsed = time.monotonic() - self._origin_real
        return self._origin_ms + int(elapsed * 1000 * self._speed)

    async def sleep_until(self, due_ms: int) -> None:
        while True:
            remaining = due_ms - self.now_ms()
            if remaining <= 0:
                return
            await asyncio.sleep(remaining / 1000 / self._speed)
