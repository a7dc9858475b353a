"""Counting busy work, so tests and the virtual clock can wait for quiet.

"Idle" means: nothing can make progress without time passing. Work waiting on
the `Clock` (a backoff, a timer, a delayed event) does not count as busy; a
step being committed, an effect attempt running, or a relay batch does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Activity:
    """A counter of busy work with an event set whenever it drops to zero."""

    def __init__(self) -> None:
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> int:
        """How many units of work are in progress."""
        return self._busy

    def enter(self, units: int = 1) -> None:
        """More units of work (one by default) are in progress."""
        self._busy += units
        self._idle.clear()

    def leave(self, units: int = 1) -> None:
        """Units of work (one by default) finished."""
        self._busy -= units
        if self._busy <= 0:
            self._busy = 0
            self._idle.set()

    @contextmanager
    def working(self) -> Iterator[None]:
        """`enter` for the duration of a `with` block."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    async def wait_idle(self, settle_rounds: int = 10) -> None:
        """Return once nothing is busy, and stays so for `settle_rounds` loop turns
        (work often hands over to other work through `call_soon`)."""
        while True:
            await self._idle.wait()
            for _ in range(settle_rounds):
                await asyncio.sleep(0)
            if self._busy == 0:
                return
