"""The session's Kafka broker, and fresh topics for each test.

One real broker per test session, started by the first test that asks for it
(`kafka_broker`) and stopped by pid at the end; each test makes its own topics
(`KafkaTopics.create`), so tests never see each other's records. Where Java or
Maven is missing the tests are skipped with the reason (failed under CI).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from flowyard.compiler.api import compile_text
from flowyard.interpreter.kafka.devbroker import (
    Broker,
    BrokerError,
    BrokerUnavailableError,
    missing_tools,
)

from .services import service_unavailable


def start_broker(workdir: Path) -> Broker:
    """A started broker in `workdir`, or the test skipped (failed in CI) when it cannot run."""
    reason = missing_tools()
    if reason is not None:
        service_unavailable(reason)
    try:
        broker = Broker.create(workdir)
        broker.start()
    except BrokerUnavailableError as exc:
        service_unavailable(str(exc))
    except BrokerError as exc:
        pytest.fail(str(exc), pytrace=False)
    return broker


_counter = itertools.count()


def unique_name(prefix: str) -> str:
    """A topic or group name no other test of any session uses."""
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 1) -> None:
    """Create `names` with `partitions` each, and wait until each has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        for _ in range(100):
            described = await admin.describe_topics(list(names))
            if all(
                t["error_code"] == 0
                and len(t["partitions"]) == partitions
                and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            ):
                return
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    raise AssertionError(f"topics {list(names)} have no leader after 5 s")


TALLY = Path(__file__).resolve().parent.parent / "kafka" / "tally.flow.yaml"


def tally_flow(topic_in: str, topic_out: str) -> str:
    """The tally flow's YAML reading `topic_in` and emitting to `topic_out`."""
    text = TALLY.read_text(encoding="utf-8")
    return text.replace("topic: IN", f"topic: {topic_in}").replace(
        "topic: OUT", f"topic: {topic_out}"
    )


def tally_ir(topic_in: str, topic_out: str) -> dict[str, Any]:
    """The tally flow (`tally_flow`) compiled."""
    ir, diagnostics = compile_text(
        tally_flow(topic_in, topic_out), file="tally.flow.yaml", surface="yaml"
    )
    assert ir is not None, diagnostics
    return ir


Record = tuple[str | None, bytes, Sequence[tuple[str, bytes]]]
"""A record to produce: key, value, headers."""


async def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    """Produce `records` to `topic` (in order per key) and wait for every one."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=4 * 1024 * 1024, linger_ms=5
    )
    await producer.start()
    try:
        waiting = [
            await producer.send(
                topic,
                value=value,
                key=None if key is None else key.encode(),
                headers=list(headers),
            )
            for key, value, headers in records
        ]
        for future in waiting:
            await future
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, *, at_least: int, timeout_s: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `topic`, once there are `at_least` (fails after `timeout_s`)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found.extend(records)
            if len(found) >= at_least and not batches:
                return found
    finally:
        await consumer.stop()
    raise AssertionError(
        f"{topic}: {len(found)} records after {timeout_s:.0f} s, wanted {at_least}"
    )
