"""Dead letters of Kafka records, produced to a dead-letter topic.

The store's dead letters are the record of truth (`flowd dead-letters` lists
them); this relay produces those of Kafka records to the dead-letter topic, in
id order, and stores how far it got (`kafka-dead-letters:<topic>`), so each
one is produced at least once even across crashes. Each has the original
record's key, and headers: the reason, the flow (when one flow refused it),
the source topic, partition and offset, and the letter's id (a stable dedup key).

Several flowd sharing a store (docs/scaling.md) relay from one place: the
holder of store partition 0 (`active`), so each letter is produced once, not
once per process.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from ..runtime.activity import Activity
from ..runtime.clock import Clock
from ..runtime.wakeloop import WakeLoop
from ..store import DeadLetterRow, SourcePosition, Store
from .producer import Produced, header_list, produce

BATCH = 500
INACTIVE_POLL_MS = 1_000
"""How often a relay that is not the active one looks whether it has become it."""
_KAFKA_SOURCE = re.compile(r"^kafka:(?P<topic>.+):(?P<partition>\d+)@(?P<offset>\d+)$")


class DeadLetterRelay:
    """Produces the store's dead letters of Kafka records to `topic`."""

    def __init__(
        self,
        store: Store,
        producer: AIOKafkaProducer,
        topic: str,
        *,
        flows: Callable[[], frozenset[str]],
        clock: Clock,
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        self._active = active
        self._store = store
        self._producer = producer
        self._topic = topic
        self._flows = flows
        self._clock = clock
        self._after_id: int | None = None
        self._more = False
        self.produced = 0
        # Its own activity: the runtime's idleness does not wait for Kafka.
        self._loop = WakeLoop(
            clock,
            next_due=self._next_due,
            fire=self._fire,
            activity=Activity(),
            name="flowd-dead-letters",
        )

    @property
    def position_source(self) -> str:
        """The source id under which the last produced letter's id is stored."""
        return f"kafka-dead-letters:{self._topic}"

    def start(self) -> None:
        """Start relaying; the first pass produces whatever an earlier run left."""
        self._loop.start()

    def wake(self) -> None:
        """New dead letters were stored."""
        self._loop.wake()

    async def stop(self) -> None:
        """Stop relaying (what is left is produced on the next start)."""
        await self._loop.stop()

    async def caught_up(self) -> bool:
        """Whether every dead letter stored so far has been relayed (False before
        the first pass)."""
        if self._after_id is None:
            return False
        return not await self._store.dead_letters(limit=1, after_id=self._after_id)

    async def _next_due(self, now_ms: int) -> int | None:
        if not self._active():
            return now_ms + INACTIVE_POLL_MS
        return now_ms if self._more else None

    async def _fire(self, now_ms: int) -> None:
        if not self._active():
            # Another process relays; read the stored position again when it is our turn.
            self._after_id = None
            self._more = False
            return
        # An error (the broker away) is logged by the loop, which tries again.
        self._more = await self._relay()

    async def _relay(self) -> bool:
        """Produce the next batch; whether there may be more."""
        if self._after_id is None:
            stored = await self._store.source_position(self.position_source)
            self._after_id = 0 if stored is None or stored.position is None else stored.position
        letters = await self._store.dead_letters(limit=BATCH, after_id=self._after_id)
        if not letters:
            return False
        records = [r for r in (self._record(letter) for letter in letters) if r is not None]
        await produce(self._producer, records)
        last = letters[-1].id
        position = SourcePosition(
            source=self.position_source, position=last, updated_ms=self._clock.now_ms()
        )
        await self._store.ingest([], [position])
        self._after_id = last
        self.produced += len(records)
        return len(letters) >= BATCH

    def _record(self, letter: DeadLetterRow) -> Produced | None:
        where = _KAFKA_SOURCE.match(letter.source)
        if where is None:
            return None  # HTTP and file inputs were answered where they came from
        headers = {
            "flowyard-reason": letter.reason,
            "flowyard-source-topic": where["topic"],
            "flowyard-source-partition": where["partition"],
            "flowyard-source-offset": where["offset"],
            "flowyard-dead-letter-id": str(letter.id),
        }
        flow = letter.reason.split(".", 1)[0]
        if flow in self._flows():
            headers["flowyard-flow"] = flow
        payload = letter.payload.encode("utf-8", "replace")
        return (self._topic, letter.record_key, payload, header_list(headers))
