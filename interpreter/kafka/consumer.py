"""`flowd run --kafka`: a consumer group over every topic the loaded flows read.

Exactly-once ingestion does not rest on Kafka's committed offsets. Each batch
of one partition is ingested in one store transaction that also stores the
partition's position (`kafka:<topic>:<partition>`: its last offset ingested);
when a partition is assigned, the consumer seeks to the stored position + 1
(the beginning of the partition when nothing is stored). A record read again
after a crash, a restart or a rebalance is therefore either past the stored
position, or deduplicated by the store (per flow, by position). Kafka's
committed offsets follow the stored ones about once a second, so standard
tools show the group's lag; they are never read back.

A partition's batches are stored one after the other: the next one is not
even fetched before the last one is stored (written first, a later batch
would make the store take the earlier one's records for duplicates). The
batches of different partitions are stored at once, and the store's group
commit writes them together, while the free partitions' next records are
fetched.

A record that cannot be stored becomes a dead letter (see `records`); if a
batch still fails to be stored, its records are ingested one by one and the
one that fails alone becomes a dead letter too, so no record holds up its
partition. Dead letters also go to a Kafka topic (`DeadLetterRelay`).

Backpressure is per partition first: the consumer counts, for each assigned
partition, its records stored in inboxes and not yet applied (the inbox rows
its batches created, until the runtime reports them applied), and pauses a
partition whose count reaches `max_partition_backlog`, resuming it below
half. A slow key thus pauses only the partitions feeding it, never the
others. As a last resort, when too many keys wait to be stepped, too many
effect calls are in flight, or (given `backlog`) the inputs in inboxes and
the calls waiting pass `--max-backlog` (the bound of HTTP's 429s), every
assigned partition is paused, and resumed once all are below half their
bound. A slow key never holds up the others of its partition either, since
records go to their key's inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from ..runtime import Runtime, RuntimeNotRunningError
from ..runtime.ingest import Delivery, IncomingRecord, IngestOutcome, summarize
from ..runtime.tasks import cancel
from ..store import SourcePosition, StoreError
from .records import DEDUP_HEADER, ConsumedRecord, incoming, partition_source
from .settings import KafkaSettings

if TYPE_CHECKING:
    from .deadletters import DeadLetterRelay

log = logging.getLogger("flowyard.kafka.consumer")

POLL_MS = 200
COMMIT_EVERY_S = 1.0
RETRY_AFTER_S = 1.0


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    """What the consumer is doing, for live output and tests."""

    assigned: tuple[tuple[str, int], ...]
    paused: tuple[tuple[str, int], ...]
    lag: int | None
    """Records on the assigned partitions not yet ingested (None until known)."""
    ingested: int


class KafkaIngress:
    """Consumes the flows' topics into `runtime`, storing positions with the records."""

    def __init__(
        self,
        runtime: Runtime,
        settings: KafkaSettings,
        *,
        tell: Callable[[str], None] = lambda _: None,
        on_dead_letter: Callable[[str, str], None] = lambda _s, _r: None,
        dead_letters: DeadLetterRelay | None = None,
        backlog: Callable[[], int] | None = None,
        assignors: tuple[type, ...] | None = None,
    ) -> None:
        self._assignors = assignors
        self._runtime = runtime
        self._settings = settings
        self._tell = tell
        self._on_dead_letter = on_dead_letter
        self._dead_letters = dead_letters
        self._backlog = backlog
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._storing: dict[TopicPartition, asyncio.Task[None]] = {}
        self._held: dict[TopicPartition, list[ConsumedRecord]] = {}
        """Per partition, records handed over by aiokafka and not yet being stored."""
        self._unsought: set[TopicPartition] = set()
        """Partitions whose batch failed, not yet sought back to their stored position."""
        self._revoking: set[TopicPartition] = set()
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self._committing: asyncio.Task[None] | None = None
        self._ingested = 0
        self._paused_for: str | None = None
        self._unapplied: dict[int, TopicPartition] = {}
        """Inbox rows this consumer stored and not yet applied, by row id."""
        self._load: Counter[TopicPartition] = Counter()
        """Per partition, how many of `_unapplied` came from it."""
        self._busy: set[TopicPartition] = set()
        """Partitions paused for their own load (past `max_partition_backlog`)."""
        runtime.watch_applied(self._applied)

    @property
    def topics(self) -> list[str]:
        """The topics consumed: every one a loaded flow reads."""
        return sorted(self._runtime.topics)

    async def start(self) -> None:
        """Join the group and start consuming (returns before the first assignment)."""
        assignment: dict[str, Any] = {}
        if self._assignors is not None:
            assignment["partition_assignment_strategy"] = self._assignors
        consumer = AIOKafkaConsumer(
            group_id=self._settings.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.max_batch,
            **self._settings.client_options(AIOKafkaConsumer, group_membership=True),
            **assignment,
        )
        await consumer.start()
        self._consumer = consumer
        topics = self.topics
        if topics:
            consumer.subscribe(topics=topics, listener=_Listener(self))
        self._task = asyncio.create_task(self._run(consumer), name="flowd-kafka")

    async def stop(self) -> None:
        """Stop consuming and leave the group (positions are in the store)."""
        task, self._task = self._task, None
        await cancel(task)
        if self._storing:
            await asyncio.wait(list(self._storing.values()))
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            if self._committing is not None:
                await asyncio.wait([self._committing])
            with contextlib.suppress(KafkaError, OSError):
                await self._commit(consumer, self._moved(consumer))
            await consumer.stop()

    def status(self) -> ConsumerStatus:
        """Assignment, pauses and lag as of now."""
        consumer = self._consumer
        if consumer is None:
            return ConsumerStatus((), (), None, self._ingested)
        assigned = sorted(consumer.assignment())
        lag: int | None = None
        for tp in assigned:
            high = consumer.highwater(tp)
            position = self._next.get(tp)
            if high is not None:
                # A partition not read from yet lags by all it holds (or less).
                lag = (lag or 0) + max(0, high - (position or 0))
        return ConsumerStatus(
            tuple((tp.topic, tp.partition) for tp in assigned),
            tuple(sorted((tp.topic, tp.partition) for tp in consumer.paused())),
            lag,
            self._ingested,
        )

    async def caught_up(self) -> bool:
        """Whether every record of the assigned partitions below their high
        watermarks is stored and no batch is being stored; False before the
        first assignment (or during a rebalance), True with no topic to read."""
        consumer = self._consumer
        if consumer is None:
            return False
        if not self.topics:
            return True
        assigned = sorted(consumer.assignment())
        if not assigned or self._storing or self._held:
            return False
        try:
            ends = await consumer.end_offsets(assigned)
            for tp in assigned:
                # aiokafka's position is past every record handed over (and past
                # control records, which end a transactional producer's batches);
                # with nothing being stored, all those are stored.
                if max(self._next.get(tp, 0), await consumer.position(tp)) < ends[tp]:
                    return False
        except (KafkaError, OSError):
            return False  # a rebalance or the broker away: ask again later
        return not (self._storing or self._held) and set(consumer.assignment()) == set(assigned)

    # ------------------------------------------------------------ the loop

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        if not self.topics:
            return
        while True:
            try:
                self._backpressure(consumer)
                await self._poll(consumer)
                self._commit_soon(consumer)
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                # The broker went away: aiokafka reconnects, and every batch
                # fetched so far is being stored, so positions stay right.
                log.warning("kafka consumer: %s: %s; retrying", type(exc).__name__, exc)
                self._tell(f"kafka: {type(exc).__name__}: {exc}; retrying in {RETRY_AFTER_S:g} s")
                await asyncio.sleep(RETRY_AFTER_S)

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        """Take new records of every partition (up to `max_batch` held per
        partition), and store each free partition's held records in a task of
        its own. A partition's batches are stored one after the other (a later
        one written first would make the store take the earlier one's records
        for duplicates: their offsets are below its position); different
        partitions' at once, so the store's group commit writes them together
        while the next records are fetched.

        Records of a partition being stored are taken too: aiokafka fetches a
        partition again only once its fetched records are handed over, so
        records produced while a batch is stored would otherwise wait for the
        next fetch after it, a whole batch later."""
        assigned = consumer.assignment()
        bound = self._settings.max_batch
        room = [tp for tp in assigned if len(self._held.get(tp, ())) < bound]
        if assigned and not room:
            await self._wait_for_a_stored_batch()
            self._start_batches(consumer, assigned)
            return
        # With nothing assigned yet, this waits (and lets the group join).
        batches = await consumer.getmany(
            *(room if len(room) < len(assigned) else ()),
            timeout_ms=0 if self._storing or self._held else POLL_MS,
            max_records=bound,
        )
        assigned = consumer.assignment()
        for tp, records in batches.items():
            if records and tp in assigned:
                self._held.setdefault(tp, []).extend(records)
        if not self._start_batches(consumer, assigned) and not batches and self._storing:
            await self._wait_for_a_stored_batch()

    def _start_batches(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> bool:
        """Start storing the held records of each free partition (up to
        `max_batch` of them); whether any was started."""
        started = False
        for tp in list(self._held):
            if tp not in assigned or tp in self._unsought:
                del self._held[tp]
            elif tp not in self._storing:
                held = self._held.pop(tp)
                batch, rest = held[: self._settings.max_batch], held[self._settings.max_batch :]
                if rest:
                    self._held[tp] = rest
                self._storing[tp] = asyncio.create_task(
                    self._store_batch(consumer, tp, batch), name=f"flowd-kafka-{tp}"
                )
                started = True
        return started

    async def _wait_for_a_stored_batch(self) -> None:
        if self._storing:
            await asyncio.wait(
                list(self._storing.values()),
                timeout=POLL_MS / 1000,
                return_when=asyncio.FIRST_COMPLETED,
            )

    async def _store_batch(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: Sequence[ConsumedRecord]
    ) -> None:
        try:
            await self._ingest_partition(tp, records)
        except RuntimeNotRunningError:
            pass  # flowd is stopping; the stored position says where to start again
        except Exception as exc:
            # Not stored (the store failing, or a bug): the records must not be
            # skipped, so fetch the partition again from its stored position.
            log.exception("kafka: a batch of %s was not stored; retrying", tp)
            self._tell(f"kafka: a batch of {tp.topic}[{tp.partition}] not stored: {exc}")
            await self._seek_back(consumer, tp)
            # A failed attempt leaves fetched records in reference cycles that the
            # collector, tuned to run seldom (`tuning`), left uncollected: with
            # the store failing for minutes, flowd grew by gigabytes. A full
            # collection per retry keeps it flat.
            gc.collect()
        finally:
            self._storing.pop(tp, None)

    async def _seek_back(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """Seek `tp` back to its stored position after a batch failed, retrying
        until that works, `tp` is taken away or the consumer stops: what comes
        after the batch must not be stored before it (the stored position would
        move past its records). Until then `tp` starts no batch."""
        self._unsought.add(tp)  # what it holds is dropped (`_start_batches`)
        while (
            tp in self._unsought
            and self._task is not None
            and tp in consumer.assignment()
            and tp not in self._revoking
        ):
            await asyncio.sleep(RETRY_AFTER_S)
            with contextlib.suppress(KafkaError, StoreError, OSError):
                await self._seek_to_stored(consumer, [tp])

    async def _ingest_partition(
        self, tp: TopicPartition, records: Sequence[ConsumedRecord]
    ) -> None:
        now = self._runtime.clock.now_ms()
        last = records[-1].offset
        records = _first_of_each_dedup_key(records)
        source = partition_source(tp.topic, tp.partition)
        incoming_records = [incoming(r, source=source) for r in records]
        position = SourcePosition(source=source, position=last, updated_ms=now)
        try:
            summary = await self._runtime.ingest_batch(
                tp.topic, incoming_records, advance=[position]
            )
        except (StoreError, ValueError, TypeError, UnicodeError) as exc:
            log.warning("a batch of %s could not be stored (%s); one by one", tp, exc)
            summary = summarize(await self._one_by_one(tp, incoming_records, records, now))
        self._next[tp] = last + 1
        self._ingested += len(incoming_records)
        for d in summary.queued:
            self._track(tp, d)
        for index, reason in summary.reasons:
            offset = records[index].offset
            self._on_dead_letter(f"kafka:{tp.topic}:{tp.partition}@{offset}", reason)
        if summary.reasons and self._dead_letters is not None:
            self._dead_letters.wake()

    def _track(self, tp: TopicPartition, d: Delivery) -> None:
        """Count the inbox row `d` created as `tp`'s until it is applied (unless it
        has been applied already)."""
        assert d.inbox_id is not None
        if self._runtime.holds_inbox_row(d.flow, d.key, d.inbox_id):
            self._unapplied[d.inbox_id] = tp
            self._load[tp] += 1

    def _applied(self, row_ids: Sequence[int]) -> None:
        for row_id in row_ids:
            tp = self._unapplied.pop(row_id, None)
            if tp is not None:
                self._load[tp] -= 1
                if self._load[tp] <= 0:
                    del self._load[tp]

    def unapplied(self, topic: str, partition: int) -> int:
        """Records of this partition stored in inboxes and not yet applied."""
        return self._load.get(TopicPartition(topic, partition), 0)

    async def _one_by_one(
        self,
        tp: TopicPartition,
        prepared: Sequence[IncomingRecord],
        records: Sequence[ConsumedRecord],
        now: int,
    ) -> list[IngestOutcome]:
        source = partition_source(tp.topic, tp.partition)
        outcomes: list[IngestOutcome] = []
        for record, raw in zip(prepared, records, strict=True):
            advance = [SourcePosition(source=source, position=raw.offset, updated_ms=now)]
            try:
                done = await self._runtime.ingest_events(tp.topic, [record], advance=advance)
            except (StoreError, ValueError, TypeError, UnicodeError) as exc:
                refused = IncomingRecord(
                    value=repr(record.value)[:1024],
                    headers=record.headers,
                    source=record.source,
                    position=record.position,
                    partition=record.partition,
                    offset=record.offset,
                    timestamp_ms=record.timestamp_ms,
                    problem=f"the record could not be stored: {type(exc).__name__}: {exc}",
                    record_key=record.record_key,
                    raw_key=record.raw_key,
                )
                done = await self._runtime.ingest_events(tp.topic, [refused], advance=advance)
            outcomes.extend(done)
        return outcomes

    # ------------------------------------------------------------ positions

    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions were assigned: seek each to its stored position."""
        consumer = self._consumer
        if consumer is None:
            return
        await self._seek_to_stored(consumer, partitions)
        self._tell("kafka: assigned " + _describe(partitions))

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions are being taken away: wait for their batches being stored."""
        self._revoking.update(partitions)
        storing = [self._storing[tp] for tp in partitions if tp in self._storing]
        if storing:
            await asyncio.wait(storing)
        self._revoking.difference_update(partitions)
        for tp in partitions:
            self._unsought.discard(tp)
            self._held.pop(tp, None)
            self._next.pop(tp, None)
            self._busy.discard(tp)
            self._load.pop(tp, None)
        gone = set(partitions)
        for row_id in [r for r, tp in self._unapplied.items() if tp in gone]:
            del self._unapplied[row_id]
        if partitions:
            self._tell("kafka: revoked " + _describe(partitions))

    async def _seek_to_stored(
        self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
    ) -> None:
        stored = {
            tp: await self._runtime.store.source_position(partition_source(tp.topic, tp.partition))
            for tp in partitions
        }
        # From here to the seeks nothing awaits: records held or fetched before
        # them were read from the old positions, and are dropped with them.
        from_start: list[TopicPartition] = []
        for tp, position in stored.items():
            self._unsought.discard(tp)
            self._held.pop(tp, None)
            if position is None or position.position is None:
                from_start.append(tp)
                self._next.pop(tp, None)
            else:
                consumer.seek(tp, position.position + 1)
                self._next[tp] = position.position + 1
        if from_start:
            await consumer.seek_to_beginning(*from_start)

    def _commit_soon(self, consumer: AIOKafkaConsumer) -> None:
        """About once a second, let Kafka's committed offsets follow the stored
        positions (for monitoring), in the background: a commit's round trip to
        the group coordinator never holds up the records behind it."""
        now = time.monotonic()
        if now - self._last_commit < COMMIT_EVERY_S or self._committing is not None:
            return
        self._last_commit = now
        moved = self._moved(consumer)
        if moved:
            self._committing = asyncio.create_task(self._commit(consumer, moved))

    def _moved(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
        assigned = consumer.assignment()
        return {
            tp: offset
            for tp, offset in self._next.items()
            if tp in assigned and self._committed.get(tp) != offset
        }

    async def _commit(self, consumer: AIOKafkaConsumer, moved: dict[TopicPartition, int]) -> None:
        try:
            if moved:
                await consumer.commit(moved)
                self._committed.update(moved)
        except (KafkaError, OSError) as exc:
            # A rebalance under way, say: the next commit catches up.
            log.debug("kafka commit skipped: %s", exc)
        finally:
            self._committing = None

    # ------------------------------------------------------------ backpressure

    def _backpressure(self, consumer: AIOKafkaConsumer) -> None:
        """Pause the partitions past their own bound, or all past a global one;
        resume the rest."""
        assigned: set[TopicPartition] = set(consumer.assignment())
        self._global_pressure(len(assigned))
        bound = self._settings.max_partition_backlog
        for tp in sorted(assigned):
            load = self._load.get(tp, 0)
            if tp not in self._busy and load >= bound:
                self._busy.add(tp)
                self._tell(
                    f"kafka: paused {tp.topic}[{tp.partition}]: {load:,} of its records "
                    f"wait in inboxes (bound {bound:,})"
                )
            elif tp in self._busy and load * 2 < bound:
                self._busy.discard(tp)
                self._tell(f"kafka: resumed {tp.topic}[{tp.partition}]")
        # Partitions assigned while all are paused are paused too.
        want = assigned if self._paused_for is not None else self._busy & assigned
        paused: set[TopicPartition] = set(consumer.paused())
        if want - paused:
            consumer.pause(*sorted(want - paused))
        if (paused & assigned) - want:
            consumer.resume(*sorted((paused & assigned) - want))

    def _global_pressure(self, assigned: int) -> None:
        gauges = self._pressure()
        if self._paused_for is None:
            over = [
                f"{value:,} {what} (bound {bound:,})"
                for value, bound, what in gauges
                if value >= bound
            ]
            if over:
                self._paused_for = "; ".join(over)
                self._tell(f"kafka: paused {assigned} partitions: {self._paused_for}")
        elif all(value < bound // 2 for value, bound, _ in gauges):
            self._paused_for = None
            self._tell(f"kafka: resumed {assigned - len(self._busy)} partitions")

    def _pressure(self) -> list[tuple[int, int, str]]:
        """Each measure of pressure: its value, its bound, what it counts."""
        s = self._settings
        gauges = [
            (self._runtime.pending_keys, s.max_pending_keys, "keys wait to be stepped"),
            (self._runtime.effects_in_flight, s.max_effects_in_flight, "effect calls in flight"),
        ]
        if self._backlog is not None and s.max_backlog is not None:
            gauges.append((self._backlog(), s.max_backlog, "inputs and effect calls wait"))
        return gauges


def _first_of_each_dedup_key(records: Sequence[ConsumedRecord]) -> Sequence[ConsumedRecord]:
    """`records` without those repeating an earlier one's dedup key: the store
    takes items of one call with one source as one record fanned out, so a
    record produced twice must not reach it twice in one batch."""
    if not any(record.headers for record in records):
        return records  # most batches: no record has headers, so none a dedup key
    seen: set[bytes] = set()
    kept: list[ConsumedRecord] = []
    for record in records:
        key = (
            next((v for n, v in record.headers if n == DEDUP_HEADER), None)
            if record.headers
            else None
        )
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(record)
    return kept


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ingress: KafkaIngress) -> None:
        self._ingress = ingress

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._ingress.revoked(sorted(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._ingress.assigned(sorted(assigned))


def _describe(partitions: Sequence[TopicPartition]) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    if not by_topic:
        return "no partitions"
    return ", ".join(
        f"{topic}[{','.join(str(p) for p in sorted(ps))}]" for topic, ps in sorted(by_topic.items())
    )
