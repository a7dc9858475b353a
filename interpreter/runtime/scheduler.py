"""Per-key scheduling: one transition in flight per key, many keys at once.

The scheduler knows nothing about flows; it runs `run_key(key)` for keys that
have been notified, never two at once for the same key, at most
`max_concurrent` at once overall, oldest notification first. A key notified
while it runs is run again afterwards, so no notification is lost.

A key can also be `claim`ed for work done outside the scheduler (stepping an
input on arrival): while claimed it counts as running, so it is not run and
cannot be claimed again; `release` hands it back, and runs it if it was
notified meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from .activity import Activity

log = logging.getLogger("flowyard.runtime.scheduler")

K = TypeVar("K", bound=Hashable)

RETRY_AFTER_ERROR_S = 0.5
"""Real seconds before a key whose run raised is tried again."""


class KeyScheduler(Generic[K]):
    """Runs `run_key` per notified key with per-key mutual exclusion.

    `run_key` returns True when the key has more work it chose not to do now
    (to let other keys have a turn); the key is then queued again at the back.
    """

    def __init__(
        self,
        run_key: Callable[[K], Awaitable[bool]],
        *,
        max_concurrent: int,
        activity: Activity | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._run_key = run_key
        self._max = max_concurrent
        self._activity = activity or Activity()
        self._queue: dict[K, None] = {}  # insertion-ordered set
        self._running: dict[K, asyncio.Task[None]] = {}
        self._again: set[K] = set()
        self._claimed: set[K] = set()
        self._unclaimed = asyncio.Event()
        self._unclaimed.set()
        self._stopping = False

    @property
    def running(self) -> int:
        """Keys being run now."""
        return len(self._running)

    @property
    def queued(self) -> int:
        """Keys waiting for a free slot."""
        return len(self._queue)

    def claim(self, key: K) -> bool:
        """Take `key` for work outside the scheduler, if it is neither running,
        waiting nor claimed (and the scheduler is not stopping)."""
        if self._stopping or key in self._running or key in self._queue or key in self._claimed:
            return False
        self._claimed.add(key)
        self._unclaimed.clear()
        self._activity.enter()
        return True

    def release(self, key: K) -> None:
        """Hand a claimed `key` back; it runs now if it was notified while claimed."""
        self._claimed.remove(key)
        if not self._claimed:
            self._unclaimed.set()
        self._activity.leave()
        if key in self._again:
            self._again.discard(key)
            self.notify(key)

    def notify(self, key: K) -> None:
        """Say that `key` may have work; it runs as soon as a slot is free."""
        if self._stopping:
            return
        if key in self._running or key in self._claimed:
            self._again.add(key)
            return
        if key not in self._queue:
            self._queue[key] = None
            self._activity.enter()
        self._pump()

    async def stop(self) -> None:
        """Start nothing new; wait for the keys being run to finish their turn
        and for the claimed ones to be released."""
        self._stopping = True
        for _ in range(len(self._queue)):
            self._activity.leave()
        self._queue.clear()
        self._again.clear()
        running = list(self._running.values())
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        await self._unclaimed.wait()

    def _pump(self) -> None:
        while self._queue and len(self._running) < self._max and not self._stopping:
            key = next(iter(self._queue))
            del self._queue[key]
            # The activity unit taken in `notify` passes to the task.
            self._running[key] = asyncio.create_task(self._run(key), name=f"key:{key}")

    async def _run(self, key: K) -> None:
        more = False
        failed = False
        try:
            more = await self._run_key(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("running key %r failed; it will be tried again", key)
            failed = True
        finally:
            del self._running[key]
            self._activity.leave()
        if failed:
            asyncio.get_running_loop().call_later(RETRY_AFTER_ERROR_S, self.notify, key)
        elif more or key in self._again:
            self._again.discard(key)
            self.notify(key)
        self._pump()
