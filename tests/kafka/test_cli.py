"""`flowd send` and `flowd run --kafka` as people use them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flowyard.interpreter.cli import main
from flowyard.interpreter.kafka.devbroker import Broker
from support.kafka import create_topics, read_topic, tally_flow, unique_name

pytestmark = pytest.mark.timeout(120)


def flowd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowyard.interpreter.cli", *args]


def test_a_kafka_option_no_client_takes_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["send", "t", "{}", "--kafka", "127.0.0.1:1", "--kafka-option", "colour=blue"])
    assert code == 2
    assert "--kafka-option colour: not an option of aiokafka's clients" in capsys.readouterr().err


def test_send_needs_something_to_send(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "--kafka", "127.0.0.1:1"]) == 2
    assert "nothing to send" in capsys.readouterr().err


async def test_send_then_run_shows_assignment_transitions_and_dead_letters(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic_in, topic_out = unique_name("cli-in"), unique_name("cli-out")
    await create_topics(kafka_broker.bootstrap, [topic_in, topic_out], 2)
    flow = tmp_path / "tally.flow.yaml"
    flow.write_text(tally_flow(topic_in, topic_out))
    b = kafka_broker.bootstrap
    sent = subprocess.run(
        flowd(
            "send",
            topic_in,
            '{"id": "c1", "n": 1}',
            "--key",
            "c1",
            "--header",
            "source=cli",
            "--kafka",
            b,
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith(f"sent to {topic_in} partition ")
    events = tmp_path / "more.events.jsonl"
    events.write_text(
        f'{{"topic": "{topic_in}", "value": {{"id": "c1", "n": 2}}, "key": "c1"}}\n'
        f'{{"topic": "{topic_in}", "value": {{"id": "c1", "n": "two"}}, "key": "c1"}}\n'
    )
    fed = subprocess.run(
        flowd("send", "--events", str(events), "--kafka", b),
        capture_output=True,
        text=True,
        check=False,
    )
    assert fed.returncode == 0, fed.stderr
    assert "sent 2 records" in fed.stdout
    output = tmp_path / "flowd.out"
    dead = unique_name("cli-dead")
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [
                *flowd("run", str(flow), "--store", str(tmp_path / "f.db"), "--no-http"),
                *("--kafka", b, "--group", unique_name("cli"), "--dead-letter-topic", dead),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = output.read_text(errors="replace")
            if text.count("Tick") >= 2 and "schema violation" in text:
                break
            time.sleep(0.2)
        # Read while flowd runs: the dead-letter relay produces after the store write.
        letters = await read_topic(b, dead, at_least=1)
        assert dict(letters[0].headers)["flowyard-source-topic"].decode() == topic_in
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.read_text(errors="replace")
    assert f"kafka: assigned {topic_in}[0,1]" in text, text
    assert f"consuming {topic_in} from {b}" in text, text
    assert "schema violation" in text, text
    assert "flowd: stopped after 2 steps" in text, text
    listed = subprocess.run(
        flowd("dead-letters", "--store", str(tmp_path / "f.db")),
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert f"kafka:{topic_in}:" in listed.stdout, listed.stdout
    assert "  key c1  " in listed.stdout, listed.stdout
