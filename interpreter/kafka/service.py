"""Kafka beside a running flowd: producer, consumer, dead-letter relay, live status.

`flowd run --kafka` opens one of these before the runtime (the runtime's
outbox produces through its emitter), starts it once the runtime has
recovered, and stops it before the runtime drains, closing the producer last
so the outbox relay can finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from ..runtime import Runtime
from ..runtime.tasks import cancel
from .alignment import aligned_assignor
from .consumer import KafkaIngress
from .deadletters import DeadLetterRelay
from .dedupkeys import EmitDedupPruner
from .membership import PartitionMembership
from .producer import KafkaEmitter, new_producer
from .settings import KafkaSettings
from .topics import create_topics, how_to_create, missing_topics

log = logging.getLogger("flowyard.kafka")

STATUS_EVERY_S = 5.0
WATCH_MISSING_MS = 10_000


class KafkaUnreachableError(RuntimeError):
    """The cluster could not be reached at start-up."""


class KafkaService:
    """The Kafka side of one flowd."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        tell: Callable[[str], None],
        on_dead_letter: Callable[[str, str], None],
    ) -> None:
        self._settings = settings
        self._tell = tell
        self._on_dead_letter = on_dead_letter
        self._producer: AIOKafkaProducer | None = None
        self._ingress: KafkaIngress | None = None
        self._relay: DeadLetterRelay | None = None
        self._membership: PartitionMembership | None = None
        self._pruner: EmitDedupPruner | None = None
        self._status: asyncio.Task[None] | None = None

    @property
    def pruner(self) -> EmitDedupPruner | None:
        """What forgets old emit dedup keys, once started."""
        return self._pruner

    @property
    def ingress(self) -> KafkaIngress | None:
        """The consumer, once started."""
        return self._ingress

    async def open(self) -> KafkaEmitter:
        """Connect the producer; the outbox sink the runtime should use."""
        producer = new_producer(self._settings)
        try:
            await producer.start()
        except (KafkaError, OSError) as exc:
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()
            raise KafkaUnreachableError(
                f"cannot reach Kafka at {self._settings.bootstrap}: {type(exc).__name__}: {exc}"
            ) from None
        self._producer = producer
        return KafkaEmitter(producer)

    async def start(self, runtime: Runtime, *, backlog: Callable[[], int] | None = None) -> None:
        """Start consuming the flows' topics and relaying dead letters; `backlog`
        counts inputs and calls waiting, against `KafkaSettings.max_backlog`.
        A partitioned runtime first joins the group that hands out its store's
        partitions (`membership`)."""
        assert self._producer is not None, "open() first"
        assignors: tuple[type, ...] | None = None
        status = runtime.partitions_status()
        if status is not None:
            # Both groups assign partition p of every topic to the same process.
            assignors = (aligned_assignor(status.owner),)
            self._membership = PartitionMembership(
                runtime, self._settings, count=status.count, identity=status.owner, tell=self._tell
            )
            await self._membership.start()
        topic = self._settings.dead_letter_topic
        if topic is not None:
            await self._ensure_topic(topic)
            self._relay = DeadLetterRelay(
                runtime.store,
                self._producer,
                topic,
                flows=lambda: runtime.flows,
                clock=runtime.clock,
                active=lambda: _relays_for_all(runtime),
            )
            self._relay.start()
        await self._check_topics(sorted(runtime.topics))
        self._ingress = KafkaIngress(
            runtime,
            self._settings,
            tell=self._tell,
            on_dead_letter=self._on_dead_letter,
            dead_letters=self._relay,
            backlog=backlog,
            assignors=assignors,
        )
        await self._ingress.start()
        self._pruner = EmitDedupPruner(
            runtime.store,
            runtime.clock,
            retention_ms=self._settings.emit_dedup_retention_ms,
            tell=self._tell,
        )
        self._pruner.start()
        topics = ", ".join(self._ingress.topics) or "no topics"
        self._tell(
            f"kafka: consuming {topics} from {self._settings.bootstrap} "
            f"as group {self._settings.group}" + (f"; dead letters to {topic}" if topic else "")
        )
        self._status = asyncio.create_task(self._report(), name="flowd-kafka-status")

    async def caught_up(self) -> bool:
        """Whether the consumer has stored every record up to the high watermarks
        of its assigned partitions, with nothing in flight, and every dead letter
        stored has been produced (False before it starts, and before its first
        assignment)."""
        if self._ingress is None or not await self._ingress.caught_up():
            return False
        return self._relay is None or await self._relay.caught_up()

    async def stop(self) -> None:
        """Stop consuming and relaying (the producer stays open for the outbox)."""
        task, self._status = self._status, None
        await cancel(task)
        if self._ingress is not None:
            await self._ingress.stop()
        if self._relay is not None:
            await self._relay.stop()
        if self._pruner is not None:
            await self._pruner.stop()
        if self._membership is not None:
            await self._membership.stop()

    async def close(self) -> None:
        """Close the producer (after the runtime's outbox relay stopped)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _check_topics(self, topics: list[str]) -> None:
        """Say which of the flows' topics are missing, or create them (`create_topics`)."""
        settings = self._settings
        try:
            missing = await missing_topics(settings, topics)
            if missing and settings.create_topics is not None:
                await create_topics(settings, missing, settings.create_topics)
                self._tell(
                    f"kafka: created {', '.join(missing)} with {settings.create_topics} partitions"
                )
            elif missing:
                self._tell(
                    f"kafka: no topic {', '.join(missing)} at {settings.bootstrap}: "
                    f"{how_to_create(missing, settings.bootstrap)}; flowd reads them once "
                    f"they exist (it looks every {WATCH_MISSING_MS // 1000} s)"
                )
                if "metadata_max_age_ms" not in settings.options:
                    # The consumer learns of new topics when it refreshes its
                    # metadata: every 5 minutes by default.
                    options = {**settings.options, "metadata_max_age_ms": str(WATCH_MISSING_MS)}
                    self._settings = replace(settings, options=options)
        except (KafkaError, OSError) as exc:
            self._tell(f"kafka: could not check the flows' topics: {type(exc).__name__}: {exc}")

    async def _ensure_topic(self, topic: str) -> None:
        admin = AIOKafkaAdminClient(**self._settings.client_options(AIOKafkaAdminClient))
        try:
            await admin.start()
            if topic not in await admin.list_topics():
                await admin.create_topics([NewTopic(topic, 1, self._settings.replication_factor)])
                self._tell(f"kafka: created the dead-letter topic {topic}")
        except TopicAlreadyExistsError:
            pass
        except (KafkaError, OSError) as exc:
            self._tell(f"kafka: could not check the dead-letter topic {topic}: {exc}")
        finally:
            await admin.close()

    async def _report(self) -> None:
        last: tuple[object, ...] | None = None
        while True:
            await asyncio.sleep(STATUS_EVERY_S)
            if self._ingress is None:
                continue
            now = self._ingress.status()
            holding = "" if self._membership is None else self._membership.holding()
            if last is None or (now.lag, now.paused, now.ingested, holding) != last:
                lag = "unknown" if now.lag is None else f"{now.lag:,}"
                paused = f", {len(now.paused)} paused" if now.paused else ""
                self._tell(
                    f"kafka: {len(now.assigned)} partitions{paused}, "
                    f"{now.ingested:,} records ingested, lag {lag}{holding}"
                )
            last = (now.lag, now.paused, now.ingested, holding)


def _relays_for_all(runtime: Runtime) -> bool:
    """Whether this process does the store-wide chores: always alone; with a
    shared store, while it holds partition 0."""
    status = runtime.partitions_status()
    return status is None or 0 in status.held
