"""A batch that cannot be stored is fetched again and again; what each failed
attempt fetched must not pile up in memory.

With the collector tuned as `flowd run` tunes it (`tuning`), each failed
attempt left its fetched records in reference cycles the collector did not
get to, and flowd grew by a few MB a second for as long as the store failed
(1.4 GB after some minutes).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.kafka import consumer
from flowyard.interpreter.kafka.consumer import KafkaIngress
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.settings import KafkaSettings
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.store import SQLiteStore
from flowyard.interpreter.tuning import SERVING_THRESHOLDS
from support.kafka import create_topics, produce, tally_ir, unique_name

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

RECORDS = 60_000
"""Over six partitions: several fetches each, so that each attempt leaves
fetched records behind when it seeks back."""


@pytest.fixture
def tuned_collector() -> Iterator[None]:
    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*SERVING_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def resident_mb() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
async def test_failed_batches_do_not_pile_up(
    kafka_broker: Broker, tmp_path: Path, tuned_collector: None, monkeypatch: Any
) -> None:
    topic = unique_name("in")
    await create_topics(kafka_broker.bootstrap, [topic], 6)
    await produce(
        kafka_broker.bootstrap,
        topic,
        [
            (f"k{i % 500}", json.dumps({"id": f"k{i % 500}", "n": i}).encode(), [])
            for i in range(RECORDS)
        ],
    )
    ir = tally_ir(topic, unique_name("out"))
    monkeypatch.setattr(consumer, "RETRY_AFTER_S", 0.1)
    # pytest's log capture would keep each failure's traceback, and its records, alive.
    monkeypatch.setattr(consumer.log, "disabled", True)
    store = await SQLiteStore.open(tmp_path / "flowd.db", synchronous="NORMAL")
    runtime = Runtime(store, [ir])
    await runtime.start()
    attempts = 0

    async def failing(*_: Any, **__: Any) -> Any:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("a bug, made up by the test")

    monkeypatch.setattr(runtime, "ingest_batch", failing)
    ingress = KafkaIngress(
        runtime, KafkaSettings(bootstrap=kafka_broker.bootstrap, group=unique_name("group"))
    )
    await ingress.start()
    try:
        while attempts < 30:
            await asyncio.sleep(0.1)
        settled = resident_mb()
        await asyncio.sleep(10)
        grown = resident_mb() - settled
        # Before: some 10 MB a second here.
        assert grown < 40, f"grew by {grown:.0f} MB in 10 s over {attempts} failed attempts"
    finally:
        await ingress.stop()
        await runtime.drain_and_stop()
