"""Forgetting the dedup keys of emitted records once they are old.

A record carrying a dedup key (`records.DEDUP_HEADER`) is stored under the
source `emit:<dedup key>@<flow>`, so that a copy produced again (the outbox
relay is at-least-once) is applied once. One row per emitted record would
grow the store for ever; copies come within minutes of each other (a relay
retrying, a producer restarted), so the rows of keys not seen for
`KafkaSettings.emit_dedup_retention_ms` (7 days by default) are deleted: a
copy arriving later than that would be applied again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..runtime.clock import Clock
from ..runtime.tasks import cancel
from ..store import Store

log = logging.getLogger("flowyard.kafka.dedupkeys")

EMIT_SOURCE_PREFIX = "emit:"
PRUNE_EVERY_S = 3600.0
"""How often old dedup keys are looked for (or every half retention, if shorter)."""
PRUNE_BATCH = 10_000
"""Rows deleted per transaction, so a large backlog never makes one long write."""


class EmitDedupPruner:
    """Deletes the store's `emit:` sources older than the retention, now and then."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        retention_ms: int,
        tell: Callable[[str], None] = lambda _: None,
    ) -> None:
        if retention_ms < 1:
            raise ValueError("the retention of emit dedup keys must be at least 1 ms")
        self._store = store
        self._clock = clock
        self._retention_ms = retention_ms
        self._tell = tell
        self._task: asyncio.Task[None] | None = None
        self.pruned = 0
        """Rows deleted since start."""

    @property
    def every_s(self) -> float:
        """Seconds between two looks."""
        return min(PRUNE_EVERY_S, self._retention_ms / 2000)

    def start(self) -> None:
        """Prune now, then every `every_s`."""
        self._task = asyncio.create_task(self._run(), name="flowd-emit-dedup-pruner")

    async def stop(self) -> None:
        """Stop pruning (a delete under way is finished or rolled back by the store)."""
        task, self._task = self._task, None
        await cancel(task)

    async def prune(self) -> int:
        """Delete every `emit:` source older than the retention; how many."""
        before = self._clock.now_ms() - self._retention_ms
        total = 0
        while True:
            deleted = await self._store.prune_sources(EMIT_SOURCE_PREFIX, before, limit=PRUNE_BATCH)
            total += deleted
            if deleted < PRUNE_BATCH:
                break
        self.pruned += total
        return total

    async def _run(self) -> None:
        while True:
            try:
                deleted = await self.prune()
            except Exception as exc:  # the store away, say: it must not end the pruning
                log.warning("pruning emit dedup keys failed: %s; trying again later", exc)
            else:
                if deleted:
                    self._tell(f"kafka: forgot {deleted:,} emit dedup keys past their retention")
            await asyncio.sleep(self.every_s)
