"""What a partition's next batch holds: every record that came while its
last batch was being stored, not only what aiokafka had fetched when that
store began (it fetches a partition again only once its fetched records are
handed over, so those taken later waited a whole batch more)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.kafka import consumer
from flowyard.interpreter.kafka.consumer import KafkaIngress
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.settings import KafkaSettings
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.store import SQLiteStore, StoreError
from support.kafka import create_topics, produce, tally_ir, unique_name

from .test_ingress import counts, until

pytestmark = pytest.mark.timeout(120)

SENDS = 5
PER_SEND = 10


def ticks(key: str, first: int, count: int) -> list[tuple[str | None, bytes, list[Any]]]:
    return [
        (key, json.dumps({"id": key, "n": n}).encode(), []) for n in range(first, first + count)
    ]


async def tally_on_one_partition(broker: Broker, tmp_path: Path) -> tuple[str, Runtime]:
    """A fresh topic of one partition, and a started runtime of the tally flow
    reading it (on a SQLite store)."""
    topic = unique_name("in")
    await create_topics(broker.bootstrap, [topic], 1)
    ir = tally_ir(topic, unique_name("out"))
    store = await SQLiteStore.open(tmp_path / "flowd.db", synchronous="NORMAL")
    runtime = Runtime(store, [ir])
    await runtime.start()
    return topic, runtime


async def test_records_that_came_while_a_batch_was_stored_make_the_next_batch(
    kafka_broker: Broker, tmp_path: Path, monkeypatch: Any
) -> None:
    topic, runtime = await tally_on_one_partition(kafka_broker, tmp_path)
    batches: list[int] = []
    first_stored = asyncio.Event()
    store_the_first = asyncio.Event()
    ingest_batch = runtime.ingest_batch

    async def slow_first(topic: str, records: Any, **options: Any) -> Any:
        batches.append(len(records))
        if len(batches) == 1:
            first_stored.set()
            await store_the_first.wait()
        return await ingest_batch(topic, records, **options)

    monkeypatch.setattr(runtime, "ingest_batch", slow_first)
    ingress = KafkaIngress(
        runtime, KafkaSettings(bootstrap=kafka_broker.bootstrap, group=unique_name("group"))
    )
    await ingress.start()
    try:
        await produce(kafka_broker.bootstrap, topic, ticks("k", 1, 1))
        await asyncio.wait_for(first_stored.wait(), 60)
        # Produced apart, so that they arrive in several fetches.
        for send in range(SENDS):
            await produce(kafka_broker.bootstrap, topic, ticks("k", 2 + send * PER_SEND, PER_SEND))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the consumer polls at least every 0.2 s
        store_the_first.set()
        total = 1 + SENDS * PER_SEND

        async def all_applied() -> bool:
            return (await counts(runtime, ["k"]))["k"] == total

        await until(all_applied, f"all {total} records applied", timeout_s=30)
        instance = await runtime.get_instance("tally", "k")
        assert instance is not None
        assert instance.data["count"] == total
        assert instance.data["in_order"] is True
        assert batches == [1, SENDS * PER_SEND]
    finally:
        store_the_first.set()
        await ingress.stop()
        await runtime.drain_and_stop()


async def test_a_batch_not_stored_is_fetched_again_even_when_the_first_seek_back_fails(
    kafka_broker: Broker, tmp_path: Path, monkeypatch: Any
) -> None:
    """A batch that could not be stored is fetched again from the stored
    position; when that seek fails too (the store unreadable for a moment), it
    is tried again, and nothing after the batch is stored before it (that
    would move the stored position past the batch's records, losing them)."""
    monkeypatch.setattr(consumer, "RETRY_AFTER_S", 0.2)
    topic, runtime = await tally_on_one_partition(kafka_broker, tmp_path)
    ingest_batch, source_position = runtime.ingest_batch, runtime.store.source_position
    failures = {"ingest": 1, "seek": 2}

    async def failing_once(topic: str, records: Any, **options: Any) -> Any:
        if failures["ingest"]:
            failures["ingest"] -= 1
            # More arrives meanwhile, and is held or fetched past the batch.
            await produce(kafka_broker.bootstrap, topic, ticks("k", 21, 20))
            await asyncio.sleep(0.5)
            raise RuntimeError("a bug, made up by the test")
        return await ingest_batch(topic, records, **options)

    async def unreadable_twice(source: str) -> Any:
        if failures["seek"] and not failures["ingest"]:
            failures["seek"] -= 1
            raise StoreError("the store cannot be read (made up by the test)")
        return await source_position(source)

    monkeypatch.setattr(runtime, "ingest_batch", failing_once)
    monkeypatch.setattr(runtime.store, "source_position", unreadable_twice)
    monkeypatch.setattr(consumer.log, "disabled", True)
    ingress = KafkaIngress(
        runtime, KafkaSettings(bootstrap=kafka_broker.bootstrap, group=unique_name("group"))
    )
    await ingress.start()
    try:
        await produce(kafka_broker.bootstrap, topic, ticks("k", 1, 20))

        async def all_applied() -> bool:
            return (await counts(runtime, ["k"]))["k"] == 40

        await until(all_applied, "all 40 records applied", timeout_s=15)
        instance = await runtime.get_instance("tally", "k")
        assert instance is not None
        assert instance.data["count"] == 40
        assert instance.data["in_order"] is True
        assert failures == {"ingest": 0, "seek": 0}  # both failures happened
    finally:
        await ingress.stop()
        await runtime.drain_and_stop()
