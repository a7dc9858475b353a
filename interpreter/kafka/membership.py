"""Which flowd holds which store partition: Kafka's group protocol decides.

In partitioned mode (several `flowd run --kafka ... --store postgresql://...`
sharing a store, docs/scaling.md) the store's P partitions are mirrored by a
topic of P partitions, `<group>.partitions` (created if missing; it carries no
records). Every process joins the consumer group `<group>.partitions` on it,
and holds the store partitions whose numbers Kafka assigns it: it claims them
in the store (their epochs go up, fencing whoever held them) and steps their
instances. flowd adds no membership protocol of its own: a process that dies
or stalls is dropped by the group coordinator after `session_timeout_ms` and
its partitions are assigned to the others.

Assignment is `alignment.py`'s: partition p to the same process in this group
and in the group reading the flows' records, so records keyed by instance
key are stepped where they are read. A revocation is not acted on until the
next assignment arrives: with Kafka's eager rebalancing every member's
partitions are revoked at each rebalance, and those it keeps are assigned
straight back. A partition is given up only when the new assignment
does not include it; if another process claims it first, our writes for it are
refused by the fence, which gives it up at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from ..runtime import Runtime, RuntimeNotRunningError
from ..runtime.tasks import cancel
from ..store import StoreError
from .alignment import aligned_assignor
from .settings import KafkaSettings

log = logging.getLogger("flowyard.kafka.membership")

RETRY_AFTER_S = 1.0
MAX_RETRY_S = 10.0


class MembershipError(RuntimeError):
    """The partitions topic cannot be used (its partition count differs from the store's)."""


def partitions_topic(group: str) -> str:
    """The topic whose assignment says which store partitions a process holds."""
    return f"{group}.partitions"


class PartitionMembership:
    """Holds the store partitions Kafka assigns this process, via `runtime`."""

    def __init__(
        self,
        runtime: Runtime,
        settings: KafkaSettings,
        *,
        count: int,
        identity: str,
        tell: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._identity = identity
        self._runtime = runtime
        self._settings = settings
        self._count = count
        self._tell = tell
        self._topic = partitions_topic(settings.group)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._revoked: set[int] = set()

    @property
    def topic(self) -> str:
        return self._topic

    async def start(self) -> None:
        """Make sure the topic exists with the store's partition count, and join."""
        await self._ensure_topic()
        consumer = AIOKafkaConsumer(
            group_id=self._topic,
            enable_auto_commit=False,
            partition_assignment_strategy=(aligned_assignor(self._identity),),
            **self._settings.client_options(AIOKafkaConsumer, group_membership=True),
        )
        await consumer.start()
        self._consumer = consumer
        consumer.subscribe(topics=[self._topic], listener=_Listener(self))
        self._task = asyncio.create_task(self._stay(consumer), name="flowd-membership")

    async def stop(self) -> None:
        """Give the partitions held up (once their turns in flight are over)
        and leave the group, so others take them at once."""
        task, self._task = self._task, None
        await cancel(task)
        held = self._runtime.partitions_status()
        if held is not None and held.held:
            # Steps in flight commit before the group hands the partitions on.
            with contextlib.suppress(StoreError, OSError):
                gone = await self._runtime.give_up_partitions(sorted(held.held))
                self._tell(f"partitions: gave up {_ranges(gone)} (stopping)")
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()

    def holding(self) -> str:
        """The store partitions held and their epochs, for the live output."""
        status = self._runtime.partitions_status()
        if status is None:
            return ""
        held = ", ".join(f"{p}@{e}" for p, e in sorted(status.held.items())) or "none"
        return f"; store partitions held (partition@epoch): {held} of {status.count}"

    async def _stay(self, consumer: AIOKafkaConsumer) -> None:
        """Poll, so the group keeps this member (the topic has no records)."""
        while True:
            try:
                await consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                log.warning("partition membership: %s: %s; retrying", type(exc).__name__, exc)
                await asyncio.sleep(RETRY_AFTER_S)

    async def revoked(self, partitions: list[int]) -> None:
        """Kept until the next assignment says whether they stay here."""
        self._revoked.update(partitions)

    async def assigned(self, partitions: list[int]) -> None:
        """Give up what was revoked and not assigned again; claim what is new."""
        keep = set(partitions)
        leaving = sorted(self._revoked - keep)
        self._revoked.clear()
        if leaving:
            gone = await self._runtime.give_up_partitions(leaving)
            if gone:
                self._tell(f"partitions: gave up {_ranges(gone)}")
        epochs = await self._take(sorted(keep))
        if epochs:
            described = ", ".join(f"{p}@{e}" for p, e in sorted(epochs.items()))
            self._tell(f"partitions: took {described} (partition@epoch)")

    async def _take(self, partitions: list[int]) -> dict[int, int]:
        """Claim `partitions`, until the store takes the claim: Kafka has
        assigned them here, and nobody else will step them meanwhile."""
        delay = RETRY_AFTER_S
        while True:
            try:
                return await self._runtime.take_partitions(partitions)
            except RuntimeNotRunningError:
                return {}
            except (StoreError, OSError) as exc:
                log.warning("claiming partitions %s failed (%s); retrying", partitions, exc)
                self._tell(f"partitions: claiming {_ranges(partitions)} failed: {exc}; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)

    async def _ensure_topic(self) -> None:
        admin = AIOKafkaAdminClient(**self._settings.client_options(AIOKafkaAdminClient))
        try:
            await admin.start()
            if self._topic not in await admin.list_topics():
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [NewTopic(self._topic, self._count, self._settings.replication_factor)]
                    )
                    self._tell(f"kafka: created {self._topic} with {self._count} partitions")
            found = await _partition_count(admin, self._topic)
        finally:
            await admin.close()
        if found != self._count:
            raise MembershipError(
                f"the topic {self._topic} has {found} partitions and the store {self._count}: "
                f"they must be equal; delete the topic (it holds no records) or use "
                f"another --group"
            )


async def _partition_count(admin: AIOKafkaAdminClient, topic: str) -> int:
    for attempt in range(20):
        for found in await admin.describe_topics([topic]):
            partitions = found.get("partitions") or []
            if found.get("topic") == topic and partitions:
                return len(partitions)
        await asyncio.sleep(0.1 * (attempt + 1))
    raise MembershipError(f"the topic {topic} did not show up in the cluster's metadata")


def _ranges(partitions: list[int]) -> str:
    return ", ".join(str(p) for p in partitions)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, membership: PartitionMembership) -> None:
        self._membership = membership

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._membership.revoked([tp.partition for tp in revoked])

    async def on_partitions_assigned(self, assigned: Any) -> None:
        tps: list[TopicPartition] = list(assigned)
        await self._membership.assigned([tp.partition for tp in tps])
