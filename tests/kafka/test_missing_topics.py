"""Topics that do not exist yet: flowd says so at once, reads them once they
exist, and creates the flows' topics when asked (`--create-topics N`)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from flowyard.interpreter.kafka.devbroker import Broker
from support.kafka import create_topics, tally_flow, unique_name

pytestmark = pytest.mark.timeout(120)


def flowd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowyard.interpreter.cli", *args]


def test_sending_to_a_missing_topic_says_how_to_create_it(kafka_broker: Broker) -> None:
    topic = unique_name("nowhere")
    started = time.monotonic()
    sent = subprocess.run(
        flowd("send", topic, "{}", "--kafka", kafka_broker.bootstrap),
        capture_output=True,
        text=True,
        check=False,
    )
    assert sent.returncode == 1
    assert f"flowd: no topic {topic} at {kafka_broker.bootstrap}: create {topic}" in sent.stderr
    assert "--create-topics N" in sent.stderr
    assert "not found in cluster metadata" not in sent.stderr
    assert time.monotonic() - started < 30  # not the producer's metadata timeout


def run_until(output: Path, proc: subprocess.Popen[bytes], text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = output.read_text(errors="replace")
        if text in found:
            return found
        assert proc.poll() is None, found
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} after {timeout_s} s:\n{output.read_text(errors='replace')}")


def start(tmp_path: Path, flow: Path, bootstrap: str, *extra: str) -> tuple[Path, Any]:
    output = tmp_path / "flowd.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [
                *flowd("run", str(flow), "--store", str(tmp_path / "f.db"), "--no-http"),
                *("--kafka", bootstrap, "--group", unique_name("missing"), *extra),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return output, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_a_topic_created_after_flowd_started_is_read(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic_in, topic_out = unique_name("later-in"), unique_name("later-out")
    await create_topics(kafka_broker.bootstrap, [topic_out], 1)
    flow = tmp_path / "tally.flow.yaml"
    flow.write_text(tally_flow(topic_in, topic_out))
    output, proc = start(tmp_path, flow, kafka_broker.bootstrap)
    try:
        run_until(output, proc, f"kafka: no topic {topic_in} at {kafka_broker.bootstrap}", 30)
        await create_topics(kafka_broker.bootstrap, [topic_in], 2)
        run_until(output, proc, f"kafka: assigned {topic_in}[0,1]", 40)
        sent = subprocess.run(
            flowd("send", topic_in, '{"id": "k", "n": 1}', "--key", "k", "--kafka",
                  kafka_broker.bootstrap),
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        run_until(output, proc, "Tick", 30)
    finally:
        stop(proc)


async def test_create_topics_creates_what_the_flows_read(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic_in, topic_out = unique_name("made-in"), unique_name("made-out")
    flow = tmp_path / "tally.flow.yaml"
    flow.write_text(tally_flow(topic_in, topic_out))
    output, proc = start(tmp_path, flow, kafka_broker.bootstrap, "--create-topics", "3")
    try:
        run_until(output, proc, f"kafka: created {topic_in} with 3 partitions", 30)
        run_until(output, proc, f"kafka: assigned {topic_in}[0,1,2]", 30)
    finally:
        stop(proc)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic_in])
    finally:
        await admin.close()
    assert len(described[0]["partitions"]) == 3
