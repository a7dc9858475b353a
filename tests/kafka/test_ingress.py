"""flowd's Kafka side against the session's real broker, in process.

Records produced to a fresh topic reach their instances in per-key order with
`meta` filled in; emits leave with the dedup header; a restart applies nothing
twice; a record produced twice with one dedup key is applied once; poison
records become dead letters (in the store and on the dead-letter topic) while
the good records around them are applied; consumption pauses when too many
keys wait, and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from flowyard.compiler.api import compile_text
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.records import DEDUP_HEADER
from flowyard.interpreter.kafka.service import KafkaService
from flowyard.interpreter.kafka.settings import KafkaSettings
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.store import InboxItem, SQLiteStore, StoreError
from support.kafka import create_topics, produce, read_topic, tally_flow, tally_ir, unique_name

pytestmark = pytest.mark.timeout(120)

PARTITIONS = 6


@dataclass
class Topics:
    """One test's fresh topics and group."""

    inp: str = field(default_factory=lambda: unique_name("in"))
    out: str = field(default_factory=lambda: unique_name("out"))
    dead: str = field(default_factory=lambda: unique_name("dead"))
    group: str = field(default_factory=lambda: unique_name("group"))

    def ir(self) -> dict[str, Any]:
        return tally_ir(self.inp, self.out)


@pytest.fixture
async def topics(kafka_broker: Broker) -> Topics:
    made = Topics()
    await create_topics(kafka_broker.bootstrap, [made.inp, made.out], PARTITIONS)
    return made


@dataclass
class Flowd:
    runtime: Runtime
    service: KafkaService
    said: list[str]
    letters: list[tuple[str, str]]


@contextlib.asynccontextmanager
async def flowd(
    path: Path,
    irs: list[dict[str, Any]],
    settings: KafkaSettings,
    store_class: type[SQLiteStore] = SQLiteStore,
    **runtime_options: Any,
) -> AsyncIterator[Flowd]:
    said: list[str] = []
    letters: list[tuple[str, str]] = []
    store = await store_class.open(path, synchronous="NORMAL")
    service = KafkaService(
        settings, tell=said.append, on_dead_letter=lambda s, r: letters.append((s, r))
    )
    sink = await service.open()
    runtime = Runtime(store, irs, outbox_sink=sink, **runtime_options)
    await runtime.start()
    await service.start(runtime)
    try:
        yield Flowd(runtime, service, said, letters)
    finally:
        await service.stop()
        await runtime.drain_and_stop()
        await service.close()


async def until(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached after {timeout_s:.0f} s: {what}")


def settings(broker: Broker, t: Topics, **more: Any) -> KafkaSettings:
    return KafkaSettings(
        bootstrap=broker.bootstrap, group=t.group, dead_letter_topic=t.dead, **more
    )


def ticks(keys: list[str], per_key: int) -> list[tuple[str | None, bytes, list[Any]]]:
    return [
        (key, json.dumps({"id": key, "n": n}).encode(), [("source", b"test")])
        for n in range(1, per_key + 1)
        for key in keys
    ]


async def counts(runtime: Runtime, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for key in keys:
        instance = await runtime.get_instance("tally", key)
        found[key] = -1 if instance is None else int(instance.data["count"])  # type: ignore[arg-type]
    return found


async def test_records_reach_their_instances_once_across_restarts(
    kafka_broker: Broker, topics: Topics, tmp_path: Path
) -> None:
    keys = [f"k{i}" for i in range(12)]
    await produce(kafka_broker.bootstrap, topics.inp, ticks(keys, 10))
    s = settings(kafka_broker, topics)
    db = tmp_path / "flowd.db"
    async with flowd(db, [topics.ir()], s) as f:

        async def all_counted() -> bool:
            return set((await counts(f.runtime, keys)).values()) == {10}

        await until(all_counted, "every key counted 10 records")
        status = f.service.ingress.status() if f.service.ingress else None
        assert status is not None and len(status.assigned) == PARTITIONS
        instance = await f.runtime.get_instance("tally", "k3")
        assert instance is not None
        assert instance.data["in_order"] is True
        assert instance.data["topic"] == topics.inp
        assert instance.data["source"] == "test"
        assert 0 <= int(instance.data["partition"]) < PARTITIONS  # type: ignore[arg-type]
        assert int(instance.data["offset"]) >= 9  # type: ignore[arg-type]
        assert any("assigned" in line for line in f.said)
        # Read while flowd runs: a stopped flowd leaves unsent emits for its next start.
        emitted = await read_topic(kafka_broker.bootstrap, topics.out, at_least=120)
        assert len(emitted) == 120
        dedup = {dict(r.headers)[DEDUP_HEADER] for r in emitted}
        assert len(dedup) == 120
        assert {r.key for r in emitted} == {k.encode() for k in keys}
    # Kafka's committed offsets followed the stored positions (for monitoring).
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(topics.group)
    finally:
        await admin.close()
    assert sum(meta.offset for meta in committed.values()) == 120

    # A restart seeks to the stored positions: nothing is applied twice, and
    # what arrived meanwhile is applied.
    await produce(
        kafka_broker.bootstrap,
        topics.inp,
        [(k, json.dumps({"id": k, "n": 11}).encode(), []) for k in keys],
    )
    async with flowd(db, [topics.ir()], s) as f:

        async def eleven() -> bool:
            return set((await counts(f.runtime, keys)).values()) == {11}

        await until(eleven, "every key counted 11 records")
        await asyncio.sleep(0.5)
        assert set((await counts(f.runtime, keys)).values()) == {11}
        for key in keys:
            journal = await f.runtime.store.journal("tally", key)
            assert len(journal) == 11
        instance = await f.runtime.get_instance("tally", "k0")
        assert instance is not None and instance.data["in_order"] is True


async def test_a_record_produced_twice_with_one_dedup_key_is_applied_once(
    kafka_broker: Broker, topics: Topics, tmp_path: Path
) -> None:
    once = json.dumps({"id": "d", "n": 1}).encode()
    dup = [(DEDUP_HEADER, b"fy-same")]
    records = [
        ("d", once, dup),
        ("d", once, dup),
        ("d", json.dumps({"id": "d", "n": 2}).encode(), []),
    ]
    await produce(kafka_broker.bootstrap, topics.inp, records)
    async with flowd(tmp_path / "flowd.db", [topics.ir()], settings(kafka_broker, topics)) as f:

        async def two() -> bool:
            return (await counts(f.runtime, ["d"]))["d"] == 2

        await until(two, "key d counted 2")
        await asyncio.sleep(0.5)
        instance = await f.runtime.get_instance("tally", "d")
        assert instance is not None
        assert instance.data["count"] == 2 and instance.data["in_order"] is True
        assert len(await f.runtime.store.journal("tally", "d")) == 2


async def test_a_dedup_key_past_its_retention_is_forgotten(
    kafka_broker: Broker, topics: Topics, tmp_path: Path
) -> None:
    tick = json.dumps({"id": "r", "n": 1}).encode()
    copy = [("r", tick, [(DEDUP_HEADER, b"fy-kept-a-while")])]
    s = settings(kafka_broker, topics, emit_dedup_retention_ms=3000)
    async with flowd(tmp_path / "flowd.db", [topics.ir()], s) as f:
        await produce(kafka_broker.bootstrap, topics.inp, copy)

        async def applied(n: int) -> bool:
            return len(await f.runtime.store.journal("tally", "r")) == n

        await until(lambda: applied(1), "the first copy applied")
        source = "emit:fy-kept-a-while@tally"
        assert await f.runtime.store.source_position(source) is not None
        await produce(kafka_broker.bootstrap, topics.inp, copy)  # within the retention
        ingress = f.service.ingress
        assert ingress is not None
        await until(lambda: _true(ingress.status().ingested == 2), "the second copy read")
        assert await applied(1), "the copy within the retention was applied"
        pruner = f.service.pruner
        assert pruner is not None and pruner.every_s == 1.5

        async def forgotten() -> bool:
            return await f.runtime.store.source_position(source) is None

        await until(forgotten, "the dedup key forgotten after 3 s")
        assert any("emit dedup keys past their retention" in line for line in f.said), f.said
        await produce(kafka_broker.bootstrap, topics.inp, copy)  # past it: taken again
        await until(lambda: applied(2), "the copy past the retention applied")


async def test_poison_records_become_dead_letters_and_the_good_ones_are_applied(
    kafka_broker: Broker, topics: Topics, tmp_path: Path
) -> None:
    def good(n: int) -> tuple[str, bytes, list[Any]]:
        return ("p", json.dumps({"id": "p", "n": n}).encode(), [])

    poison: list[tuple[str | None, bytes, list[Any]]] = [
        ("p", b"{not json", []),
        ("p", json.dumps({"id": "p", "n": "three"}).encode(), []),
        ("p", json.dumps({"n": 1}).encode(), []),
        ("p", json.dumps({"id": "p", "n": 1, "pad": "x" * (2 * 1024 * 1024)}).encode(), []),
        ("p", b'{"id": "p", "n": 1, "pad": "\\ud800"}', []),
        ("p", b'{"id": "p", "n": ' + b"7" * 5000 + b"}", []),
        ("p", b"\xff\xfe not utf-8", []),
    ]
    records: list[tuple[str | None, bytes, list[Any]]] = [good(1)]
    for n, bad in enumerate(poison, start=2):
        records += [bad, good(n)]
    await produce(kafka_broker.bootstrap, topics.inp, records)
    async with flowd(tmp_path / "flowd.db", [topics.ir()], settings(kafka_broker, topics)) as f:

        async def applied() -> bool:
            return (await counts(f.runtime, ["p"]))["p"] == len(poison) + 1

        await until(applied, "every good record applied")
        instance = await f.runtime.get_instance("tally", "p")
        assert instance is not None and instance.data["in_order"] is True
        stored = await f.runtime.store.dead_letters()
        assert len(stored) == len(poison)

        async def told() -> bool:  # the live output follows the store write
            return len(f.letters) == len(poison)

        await until(told, "every dead letter told")
        letters = await read_topic(kafka_broker.bootstrap, topics.dead, at_least=len(poison))
        assert len(letters) == len(poison)
        reasons = [dict(r.headers)["flowyard-reason"].decode() for r in letters]
        expected = [
            "not JSON",
            "schema violation",
            "no key",
            "byte bound",
            "lone surrogate",
            "too large to store",  # an integer of 5,000 digits
            "not UTF-8",
        ]
        for reason, part in zip(reasons, expected, strict=True):
            assert part in reason
        first = dict(letters[0].headers)
        assert first["flowyard-source-topic"].decode() == topics.inp
        offsets = sorted(int(dict(r.headers)["flowyard-source-offset"]) for r in letters)
        assert offsets == [1, 3, 5, 7, 9, 11, 13]
        assert dict(letters[1].headers)["flowyard-flow"] == b"tally"
        assert all(len(r.value or b"") <= 1100 for r in letters)
        # Each keeps the key of the record it was, in the store and on the topic.
        assert [r.key for r in letters] == [b"p"] * len(poison)
        assert [d.record_key for d in stored] == [b"p"] * len(poison)


class RefusingStore(SQLiteStore):
    """Refuses every write holding an input padded "refuse": a record the store
    cannot take for a reason no check before it knew."""

    async def ingest(self, items: Sequence[InboxItem], *args: Any, **kwargs: Any) -> Any:
        if any('"refuse"' in json.dumps(item.input) for item in items):
            raise StoreError("refused on purpose")
        return await super().ingest(items, *args, **kwargs)


async def test_a_record_the_store_refuses_becomes_a_dead_letter_alone(
    kafka_broker: Broker, topics: Topics, tmp_path: Path
) -> None:
    def tick(n: int, pad: str = "") -> tuple[str, bytes, list[Any]]:
        return ("s", json.dumps({"id": "s", "n": n, "pad": pad}).encode(), [])

    await produce(
        kafka_broker.bootstrap, topics.inp, [tick(1), tick(2, "refuse"), tick(2), tick(3)]
    )
    async with flowd(
        tmp_path / "flowd.db", [topics.ir()], settings(kafka_broker, topics), RefusingStore
    ) as f:

        async def three() -> bool:
            return (await counts(f.runtime, ["s"]))["s"] == 3

        await until(three, "the three other records applied")
        instance = await f.runtime.get_instance("tally", "s")
        assert instance is not None and instance.data["in_order"] is True
        letters = await f.runtime.store.dead_letters()
        assert len(letters) == 1
        assert "could not be stored: StoreError: refused on purpose" in letters[0].reason
        assert letters[0].source.endswith("@1")
        assert letters[0].record_key == b"s"


async def test_consumption_pauses_while_too_many_keys_wait_and_resumes(
    kafka_broker: Broker, topics: Topics, tmp_path: Path
) -> None:
    keys = [f"b{i}" for i in range(200)]
    await produce(kafka_broker.bootstrap, topics.inp, ticks(keys, 3))
    # Small batches, so that records are still left in Kafka once it pauses
    # (flowd takes up to two batches per partition: one stored, one held).
    s = settings(kafka_broker, topics, max_pending_keys=20, max_batch=20)
    async with flowd(
        tmp_path / "flowd.db",
        [topics.ir()],
        s,
        step_on_arrival=False,
        max_concurrent_keys=2,
    ) as f:

        async def done() -> bool:
            return set((await counts(f.runtime, keys)).values()) == {3}

        await until(done, "every key counted 3 records", timeout_s=60)
        assert any(line.startswith("kafka: paused") for line in f.said), f.said
        assert any(line.startswith("kafka: resumed") for line in f.said), f.said
        ingress = f.service.ingress
        assert ingress is not None and ingress.status().ingested == len(keys) * 3
        instance = await f.runtime.get_instance("tally", "b7")
        assert instance is not None and instance.data["in_order"] is True


GATED = """
flow: gated
version: 1
key: id
events:
  Job:
    topic: IN
    key: event.id
    schema:
      type: object
      required: [id, n]
      properties:
        id: {type: string}
        n: {type: integer}
effects:
  work:
    python: gated_effects:work
    timeout: 120s
data:
  count: {type: integer, default: 0}
initial: working
states:
  working:
    on:
      Job:
        do:
          - call: work
            with: {id: "${ key }"}
          - set: {count: "${ data.count + 1 }"}
"""


async def test_a_slow_key_pauses_its_partition_only(kafka_broker: Broker, tmp_path: Path) -> None:
    t = Topics()
    await create_topics(kafka_broker.bootstrap, [t.inp], 2)
    ir, diagnostics = compile_text(GATED.replace("IN", t.inp), file="g.flow.yaml", surface="yaml")
    assert ir is not None, diagnostics
    gate = asyncio.Event()

    async def work(args: Any, _ctx: Any) -> dict[str, Any]:
        if args["id"] == "slow":
            await gate.wait()
        return {}

    def job(key: str, n: int) -> tuple[str, bytes, list[Any]]:
        return (key, json.dumps({"id": key, "n": n}).encode(), [])

    fast = [f"f{i}" for i in range(8)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    await producer.start()
    try:
        # Partition 0: one key whose effect is held, so its records wait in its inbox.
        for n in range(1, 81):
            await producer.send(t.inp, job("slow", n)[1], key=b"slow", partition=0)
        await producer.flush()
    finally:
        await producer.stop()
    s = settings(kafka_broker, t, max_partition_backlog=50)
    async with flowd(tmp_path / "flowd.db", [ir], s, effect_overrides={"work": work}) as f:
        ingress = f.service.ingress
        assert ingress is not None
        busy, free = (t.inp, 0), (t.inp, 1)

        async def paused() -> bool:
            return busy in ingress.status().paused

        await until(paused, "partition 0 paused")
        # Partition 1 (40 records, below the bound) goes on: fetched and applied meanwhile.
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
        await producer.start()
        try:
            for n in range(1, 6):
                for key in fast:
                    await producer.send(t.inp, job(key, n)[1], key=key.encode(), partition=1)
            await producer.flush()
        finally:
            await producer.stop()

        async def fast_done() -> bool:
            for key in fast:
                instance = await f.runtime.get_instance("gated", key)
                if instance is None or instance.data["count"] != 5:
                    return False
            return True

        await until(fast_done, "every key of partition 1 applied 5 records")
        status = ingress.status()
        assert busy in status.paused and free not in status.paused, (status, f.said)
        assert ingress.unapplied(*busy) >= 50
        assert any(line.startswith(f"kafka: paused {t.inp}[0]") for line in f.said), f.said
        assert not any(f"{t.inp}[1]" in line and "paused" in line for line in f.said), f.said

        gate.set()

        async def slow_done() -> bool:
            instance = await f.runtime.get_instance("gated", "slow")
            return instance is not None and instance.data["count"] == 80

        await until(slow_done, "the slow key applied its 80 records")
        await until(lambda: _true(busy not in ingress.status().paused), "partition 0 resumed")
        assert any(line == f"kafka: resumed {t.inp}[0]" for line in f.said), f.said
        assert ingress.unapplied(*busy) == 0


async def _true(value: bool) -> bool:
    return value


def test_the_tally_flow_compiles() -> None:
    ir, diagnostics = compile_text(
        textwrap.dedent(tally_flow("a", "b")), file="tally.flow.yaml", surface="yaml"
    )
    assert ir is not None, diagnostics
