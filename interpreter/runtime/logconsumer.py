"""Consuming the embedded log: emitted events drive the flows that read them.

The outbox relay appends emitted records to the embedded log; this consumer
reads every topic some loaded flow reads and ingests new records like any
other source. Its position per topic (`"log-consumer:<topic>"` in the store's
source positions) moves in the same transaction as the inbox rows, and the
rows themselves are deduplicated per flow by log offset, so a crash between
the two never loses or doubles a record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from ..store import SourcePosition, Store
from .activity import Activity
from .clock import Clock
from .ingest import IncomingRecord, IngestOutcome
from .wakeloop import WakeLoop

log = logging.getLogger("flowyard.runtime.log")

READ_BATCH = 500

Ingest = Callable[
    [str, Sequence[IncomingRecord], Sequence[SourcePosition]], Awaitable[list[IngestOutcome]]
]


def consumer_source(topic: str) -> str:
    """The source id under which the consumer's position of `topic` is stored."""
    return f"log-consumer:{topic}"


class LogConsumer:
    """Feeds new embedded-log records of the topics flows read into `ingest`."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        activity: Activity,
        topics: Callable[[], frozenset[str]],
        ingest: Ingest,
    ) -> None:
        self._store = store
        self._topics = topics
        self._ingest = ingest
        self._positions: dict[str, int] = {}
        self._more = False
        self._loop = WakeLoop(
            clock, next_due=self._next_due, fire=self._consume, activity=activity, name="flowd-log"
        )

    def start(self) -> None:
        """Start consuming; the first pass catches up with whatever was appended."""
        self._loop.start()

    def wake(self, topics: set[str] | None = None) -> None:
        """Records were appended (to `topics`)."""
        if topics is None or topics & self._topics():
            self._loop.wake()

    async def stop(self) -> None:
        """Stop consuming (positions are in the store)."""
        await self._loop.stop()

    async def _next_due(self, now_ms: int) -> int | None:
        return now_ms if self._more else None

    async def _consume(self, now_ms: int) -> None:
        more = False
        for topic in sorted(self._topics()):
            after = await self._position(topic)
            records = await self._store.read_log(topic, after_offset=after, limit=READ_BATCH)
            if not records:
                continue
            more = more or len(records) >= READ_BATCH
            incoming = [
                IncomingRecord(
                    value=r.value,
                    headers=r.headers,
                    record_key=r.key,
                    source=f"log:{topic}",
                    position=r.offset,
                    offset=r.offset,
                    timestamp_ms=r.appended_ms,
                )
                for r in records
            ]
            last = records[-1].offset
            position = SourcePosition(
                source=consumer_source(topic), position=last, updated_ms=now_ms
            )
            await self._ingest(topic, incoming, [position])
            self._positions[topic] = last
            log.debug("consumed %d records of %s up to offset %d", len(records), topic, last)
        self._more = more

    async def _position(self, topic: str) -> int:
        known = self._positions.get(topic)
        if known is not None:
            return known
        stored = await self._store.source_position(consumer_source(topic))
        position = -1 if stored is None or stored.position is None else stored.position
        self._positions[topic] = position
        return position
