"""The outbox relay: emitted events leave the store for the log.

A step's `emit` commands are outbox rows committed with its snapshot. The
relay moves unsent rows to the embedded log (the Kafka stand-in), marking them
sent in the same store transaction, so each row is appended once; with an
external `OutboxSink` (e.g. a Kafka producer) rows are produced first and
marked sent after, which is at-least-once with a stable `dedup_key` header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from ..store import OutboxRow, Store
from .activity import Activity
from .clock import Clock
from .wakeloop import WakeLoop

log = logging.getLogger("flowyard.runtime.outbox")

RELAY_BATCH = 500


class OutboxSink(Protocol):
    """Where outbox rows go besides the embedded log (e.g. a Kafka producer)."""

    async def send(self, rows: Sequence[OutboxRow]) -> None:
        """Produce `rows` durably; raise if any was not produced."""
        ...


class OutboxRelay:
    """Relays unsent outbox rows whenever woken (after a commit with emits)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        activity: Activity,
        on_appended: Callable[[set[str]], None],
        sink: OutboxSink | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_appended = on_appended
        self._sink = sink
        self._more = False
        self._loop = WakeLoop(
            clock, next_due=self._next_due, fire=self._relay, activity=activity, name="flowd-outbox"
        )

    def start(self) -> None:
        """Start relaying; the first pass sends whatever a previous run left unsent."""
        self._loop.start()

    def wake(self) -> None:
        """New outbox rows were committed."""
        self._loop.wake()

    async def stop(self) -> None:
        """Stop relaying (unsent rows stay in the outbox)."""
        await self._loop.stop()

    async def _next_due(self, now_ms: int) -> int | None:
        return now_ms if self._more else None

    async def _relay(self, now_ms: int) -> None:
        rows = await self._store.pending_outbox(limit=RELAY_BATCH)
        self._more = len(rows) >= RELAY_BATCH
        if not rows:
            return
        if self._sink is not None:
            await self._sink.send(rows)
        await self._store.mark_outbox_sent(
            [row.id for row in rows], sent_ms=now_ms, append_to_log=self._sink is None
        )
        log.debug("relayed %d outbox rows", len(rows))
        if self._sink is None:
            self._on_appended({row.topic for row in rows})
