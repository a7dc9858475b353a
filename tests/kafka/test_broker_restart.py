"""The broker restarts while flowd consumes: nothing lost, nothing applied twice,
consumption (and the outbox's producing) resumes by itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.records import DEDUP_HEADER
from support.kafka import create_topics, produce, read_topic

from .test_ingress import PARTITIONS, Topics, counts, flowd, settings, ticks, until

pytestmark = pytest.mark.timeout(180)

KEYS = [f"r{i}" for i in range(30)]


async def test_consumption_resumes_after_a_broker_restart(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    t = Topics()
    await create_topics(kafka_broker.bootstrap, [t.inp, t.out], PARTITIONS)
    await produce(kafka_broker.bootstrap, t.inp, ticks(KEYS, 5))
    async with flowd(tmp_path / "flowd.db", [t.ir()], settings(kafka_broker, t)) as f:

        async def first() -> bool:
            return set((await counts(f.runtime, KEYS)).values()) == {5}

        await until(first, "the first 5 records of each key applied")
        await asyncio.to_thread(kafka_broker.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(kafka_broker.start)
        sixth_to_tenth = ticks(KEYS, 10)[len(KEYS) * 5 :]
        await produce(kafka_broker.bootstrap, t.inp, sixth_to_tenth)

        async def all_ten() -> bool:
            return set((await counts(f.runtime, KEYS)).values()) == {10}

        await until(all_ten, "all 10 records of each key applied", timeout_s=90)
        for key in KEYS:
            instance = await f.runtime.get_instance("tally", key)
            assert instance is not None and instance.data["in_order"] is True
            assert len(await f.runtime.store.journal("tally", key)) == 10
        # The outbox's producing resumed too (read while flowd runs).
        emitted = await read_topic(kafka_broker.bootstrap, t.out, at_least=len(KEYS) * 10)
        assert len({dict(r.headers)[DEDUP_HEADER] for r in emitted}) == len(KEYS) * 10
