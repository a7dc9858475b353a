"""Per-key scheduling: one transition in flight per key, many keys at once.

The scheduler knows nothing about flows; it runs `run_key(key)` for keys that
have been notified, never two at once for the same key, at most
`max_concurrent` at once overall, oldest notification first. A key notified
while it runs is run again afterwards, so no notification is lost.

Keys can also be `claim`ed for work done outside the scheduler (stepping
input on arrival): while claimed a key counts as running, so it is not run and
cannot be claimed again; `release` hands keys back, and runs each that was
notified meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable
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
        expected_errors: tuple[type[Exception], ...] = (),
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._run_key = run_key
        self._expected = expected_errors
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

    def claim(self, keys: Iterable[K]) -> list[K]:
        """Take those of `keys` that are neither running, waiting nor claimed
        (none while the scheduler is stopping) for work outside the scheduler;
        the keys taken, in order."""
        if self._stopping:
            return []
        taken: list[K] = []
        for key in keys:
            if key in self._running or key in self._queue or key in self._claimed:
                continue
            self._claimed.add(key)
            taken.append(key)
        if taken:
            self._unclaimed.clear()
            self._activity.enter(len(taken))
        return taken

    def release(self, keys: Collection[K]) -> None:
        """Hand claimed `keys` back; each runs now if it was notified while claimed."""
        if not self._claimed.issuperset(keys):
            raise ValueError(f"releasing keys that are not claimed: {set(keys) - self._claimed}")
        self._claimed.difference_update(keys)
        if not self._claimed:
            self._unclaimed.set()
        self._activity.leave(len(keys))
        if self._again:
            for key in keys:
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

    def known(self, key: K) -> bool:
        """Whether `key` is waiting, running or claimed."""
        return key in self._queue or key in self._running or key in self._claimed

    async def settle(self, which: Callable[[K], bool]) -> None:
        """Drop the waiting keys for which `which` is true and wait until none
        of them is running or claimed (none is started meanwhile only if the
        caller stopped notifying them)."""
        for key in [k for k in self._queue if which(k)]:
            del self._queue[key]
            self._activity.leave()
        self._again.difference_update([k for k in self._again if which(k)])
        while True:
            running = [task for key, task in self._running.items() if which(key)]
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            elif any(which(k) for k in self._claimed):
                await asyncio.sleep(0.01)
            else:
                return

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
        except self._expected as exc:
            # A passing trouble (the store unreachable for a moment): no traceback.
            log.warning("running key %r failed (%s); it will be tried again", key, exc)
            failed = True
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
