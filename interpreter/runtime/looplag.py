"""Watching the event loop for stalls: a coroutine that blocks holds every key.

A python effect written `async def` that calls `time.sleep` or blocking I/O
(or any other coroutine that computes for long) holds the one event loop:
no key steps, no request is answered, no timer fires meanwhile. Such code
cannot be interrupted, so flowd makes it visible: a task wakes every
`interval_s` and measures how late it woke. A wake-up later than `warn_ms`
is logged as a warning and counted; `GET /healthz` shows the counts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from .tasks import cancel

log = logging.getLogger("flowyard.runtime.looplag")

LAG_INTERVAL_S = 0.1
LAG_WARNING_MS = 250


@dataclass(slots=True)
class LagReport:
    """What the watch has seen since start."""

    stalls: int = 0
    """Wake-ups later than the warning threshold."""
    max_ms: int = 0
    """The longest lag seen."""
    last_ms: int = 0
    """The lag of the last stall."""

    def to_json(self) -> dict[str, int]:
        return {"stalls": self.stalls, "max_ms": self.max_ms, "last_stall_ms": self.last_ms}


class LoopLagMonitor:
    """Measures how late the event loop runs a task that asked to wake up."""

    def __init__(self, interval_s: float = LAG_INTERVAL_S, warn_ms: int = LAG_WARNING_MS) -> None:
        self._interval_s = interval_s
        self._warn_ms = warn_ms
        self._task: asyncio.Task[None] | None = None
        self.report = LagReport()

    def start(self) -> None:
        """Start watching (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="flowd:loop-lag")

    async def stop(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        await cancel(task)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self._interval_s)
            self.observe(round((loop.time() - asked - self._interval_s) * 1000))

    def observe(self, lag_ms: int) -> None:
        """Record one wake-up `lag_ms` late."""
        self.report.max_ms = max(self.report.max_ms, lag_ms)
        if lag_ms < self._warn_ms:
            return
        self.report.stalls += 1
        self.report.last_ms = lag_ms
        log.warning(
            "the event loop was held for about %d ms: no key stepped and no request was "
            "answered meanwhile (an async python effect that blocks? declare a blocking "
            "effect with a plain `def` so it runs in a thread)",
            lag_ms,
        )
