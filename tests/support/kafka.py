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
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
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


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The session's broker (its log: `<workdir>/broker.log`)."""
    broker = start_broker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop()


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
