"""The dead-letter relay produces only while it is the active one (with a shared
store: the holder of partition 0), from the position stored by whoever relayed last."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flowyard.interpreter.kafka.deadletters import DeadLetterRelay
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.producer import new_producer
from flowyard.interpreter.kafka.settings import KafkaSettings
from flowyard.interpreter.runtime import SystemClock
from flowyard.interpreter.store import DeadLetter
from flowyard.interpreter.store.sqlite import SQLiteStore
from support.kafka import create_topics, read_topic, unique_name


def letter(offset: int) -> DeadLetter:
    return DeadLetter(
        source=f"kafka:orders:0@{offset}",
        topic="orders",
        reason="no flow takes it",
        payload="{}",
        at_ms=1,
        record_key=f"k{offset}".encode(),
    )


async def test_only_the_active_relay_produces_and_it_goes_on_where_the_last_stopped(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = unique_name("dead")
    await create_topics(kafka_broker.bootstrap, [topic], 1)
    store = await SQLiteStore.open(tmp_path / "f.db")
    producer = new_producer(KafkaSettings(bootstrap=kafka_broker.bootstrap))
    await producer.start()
    turn = {"first": True, "second": False}
    relays = [
        DeadLetterRelay(
            store,
            producer,
            topic,
            flows=frozenset,
            clock=SystemClock(),
            active=lambda name=name: turn[name],
        )
        for name in ("first", "second")
    ]
    try:
        await store.dead_letter(letter(1))
        for relay in relays:
            relay.start()
            relay.wake()
        await read_topic(kafka_broker.bootstrap, topic, at_least=1)
        turn.update(first=False, second=True)  # partition 0 moved
        await asyncio.sleep(1.5)  # the second notices within a second
        await store.dead_letter(letter(2))
        for relay in relays:
            relay.wake()
        found = await read_topic(kafka_broker.bootstrap, topic, at_least=2)
        await asyncio.sleep(1.5)
        found = await read_topic(kafka_broker.bootstrap, topic, at_least=2)
        assert sorted(r.key for r in found) == [b"k1", b"k2"]  # each once
        assert (relays[0].produced, relays[1].produced) == (1, 1)
    finally:
        for relay in relays:
            await relay.stop()
        await producer.stop()
        await store.close()
