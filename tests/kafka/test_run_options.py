"""`flowd run --kafka` options, run as people run it, against the session's real broker:
`--exit-when-idle` waits until the consumer has stored everything up to the high
watermarks; `--max-partition-backlog` and `--max-pending-keys` reach the consumer."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flowyard.interpreter.cli import _kafka_settings, build_parser
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.settings import (
    DEFAULT_MAX_PARTITION_BACKLOG,
    DEFAULT_MAX_PENDING_KEYS,
)
from support.kafka import create_topics, produce, read_topic, tally_flow, unique_name

pytestmark = pytest.mark.timeout(120)


async def run_flowd(
    tmp_path: Path, topic: str, broker: Broker, *options: str, dead: str | None = None
) -> tuple[int, str]:
    """`flowd run` on the tally flow until it exits by itself; its exit code and output.
    (It is idle only once its emits are produced, so their topic must exist.)"""
    out = unique_name("out")
    await create_topics(broker.bootstrap, [out])
    flow = tmp_path / "tally.flow.yaml"
    flow.write_text(tally_flow(topic, out))
    command = [
        *(sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow)),
        *("--store", str(tmp_path / "f.db"), "--no-http", "--quiet", "--exit-when-idle"),
        *("--kafka", broker.bootstrap, "--group", unique_name("run")),
        *("--dead-letter-topic", dead or unique_name("dead")),
        *options,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    return done.returncode, done.stdout + done.stderr


def counts(db: Path) -> dict[str, int]:
    """Each instance's count; none while flowd has created the file but not yet
    its tables (its writer process migrates the database as it starts)."""
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT key, snapshot FROM instances").fetchall()
        except sqlite3.OperationalError:
            return {}
    return {key: json.loads(snapshot)["data"]["count"] for key, snapshot in rows}


def ticks(keys: list[str], per_key: int) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    return [
        (key, json.dumps({"id": key, "n": n}).encode(), [])
        for n in range(1, per_key + 1)
        for key in keys
    ]


async def test_exit_when_idle_waits_until_every_record_is_applied(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = unique_name("idle")
    # Six partitions and three keys: some partitions stay empty, and count as caught up.
    await create_topics(kafka_broker.bootstrap, [topic], 6)
    keys = ["a", "b", "c"]
    poison = ("a", b"{not json", [])
    await produce(kafka_broker.bootstrap, topic, [*ticks(keys, 400), poison])
    dead = unique_name("dead")
    code, output = await run_flowd(tmp_path, topic, kafka_broker, dead=dead)
    assert code == 0, output
    assert "flowd: idle, exiting" in output, output
    assert counts(tmp_path / "f.db") == dict.fromkeys(keys, 400), output
    # Its dead letter was produced before it exited.
    [letter] = await read_topic(kafka_broker.bootstrap, dead, at_least=1, timeout_s=5)
    assert letter.key == b"a" and letter.value == b"{not json"


async def test_exit_when_idle_on_a_topic_with_nothing_to_read(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = unique_name("empty")
    await create_topics(kafka_broker.bootstrap, [topic], 2)
    code, output = await run_flowd(tmp_path, topic, kafka_broker)
    assert code == 0, output
    assert f"kafka: assigned {topic}[0,1]" in output, output
    assert "flowd: idle, exiting" in output, output


async def test_backpressure_bounds_given_on_the_command_line_pause_the_consumer(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = unique_name("bounds")
    await create_topics(kafka_broker.bootstrap, [topic], 2)
    keys = [f"k{i}" for i in range(20)]
    await produce(kafka_broker.bootstrap, topic, ticks(keys, 10))
    # Every input through the inbox, one key stepped at a time: records wait in
    # inboxes and keys wait for a slot, past these small bounds.
    code, output = await run_flowd(
        tmp_path,
        topic,
        kafka_broker,
        *("--no-step-on-arrival", "--max-concurrent-keys", "1"),
        *("--max-partition-backlog", "5", "--max-pending-keys", "3"),
    )
    assert code == 0, output
    assert "wait in inboxes (bound 5)" in output, output
    assert "keys wait to be stepped (bound 3)" in output, output
    assert counts(tmp_path / "f.db") == dict.fromkeys(keys, 10), output


def test_the_bounds_default_to_the_settings_defaults() -> None:
    parser = build_parser()
    given = parser.parse_args(["run", "f.yaml", "--kafka", "b:9092"])
    settings = _kafka_settings(given)
    assert settings.max_partition_backlog == DEFAULT_MAX_PARTITION_BACKLOG
    assert settings.max_pending_keys == DEFAULT_MAX_PENDING_KEYS
    bounds = ["--max-partition-backlog", "7", "--max-pending-keys", "9"]
    given = parser.parse_args(["run", "f.yaml", "--kafka", "b:9092", *bounds])
    settings = _kafka_settings(given)
    assert (settings.max_partition_backlog, settings.max_pending_keys) == (7, 9)


def test_a_bound_must_be_a_positive_number() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "f.yaml", "--max-pending-keys", "0"])


@pytest.mark.parametrize(
    ("given", "ms"), [(None, 7 * 86_400_000), ("36h", 36 * 3_600_000), ("P1D", 86_400_000)]
)
def test_the_emit_dedup_retention_is_a_duration(given: str | None, ms: int) -> None:
    more = [] if given is None else ["--emit-dedup-retention", given]
    args = build_parser().parse_args(["run", "f.yaml", "--kafka", "b:9092", *more])
    assert _kafka_settings(args).emit_dedup_retention_ms == ms


@pytest.mark.parametrize("given", ["forever", "0s", "-1d"])
def test_an_emit_dedup_retention_that_is_no_duration_is_a_usage_error(given: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "f.yaml", f"--emit-dedup-retention={given}"])


async def test_exit_when_idle_waits_for_dead_letters_to_be_produced(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic, out = unique_name("unrelayed"), unique_name("out")
    await create_topics(kafka_broker.bootstrap, [topic, out])
    await produce(kafka_broker.bootstrap, topic, [*ticks(["a"], 3), ("a", b"{not json", [])])
    flow = tmp_path / "tally.flow.yaml"
    flow.write_text(tally_flow(topic, out))
    output = tmp_path / "flowd.out"
    # No topic can have this name: the dead letter can never be produced.
    command = [
        *(sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow)),
        *("--store", str(tmp_path / "f.db"), "--no-http", "--exit-when-idle"),
        *("--kafka", kafka_broker.bootstrap, "--group", unique_name("run")),
        *("--dead-letter-topic", "no topic has spaces"),
    ]
    with output.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (tmp_path / "f.db").exists() and counts(tmp_path / "f.db") == {"a": 3}:
                break
            time.sleep(0.2)
        assert counts(tmp_path / "f.db") == {"a": 3}, output.read_text()
        time.sleep(3)
        assert proc.poll() is None, f"exited with its dead letter unproduced:\n{output.read_text()}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "flowd: idle, exiting" not in output.read_text()
