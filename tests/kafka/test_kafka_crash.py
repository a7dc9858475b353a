"""Crash test: `flowd run --kafka` killed with SIGKILL at random moments while it consumes.

20,000 records over 200 keys (n = 1..100 per key) are produced to 6 partitions
while flowd consumes them into the tally flow, which emits one record per
input. flowd is SIGKILLed at least 20 times, at random moments: before it has
joined the group, while it ingests, and between a store commit and the Kafka
offset commit (those follow about once a second, so most kills land there).
After each kill and at the end, the store is checked:

- no record was applied twice: each key's journal length equals its count,
  and its records arrived in order (n = 1, 2, ... in the flow's own check);
- at the end every key counted exactly 100;
- every emit reached the output topic (each input's dedup key is there at
  least once: the outbox is at-least-once, a dedup key may appear twice);
- `flowd verify` rebuilds every instance from its journal.

The group uses static membership (`group_instance_id`), so a restarted flowd
takes its partitions back without waiting for the killed one's session to
expire. Set FLOWYARD_CHAOS_SEED to replay a run's kill schedule.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.records import DEDUP_HEADER
from support.kafka import create_topics, produce, read_topic, tally_flow, unique_name
from support.restarted_flowd import RestartedFlowd

KEYS = 200
PER_KEY = 100
PARTITIONS = 6
MIN_KILLS = 20
ROUND = 4  # records per key produced at a time

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@dataclass
class Flowd(RestartedFlowd):
    """The flowd subprocess under test, restarted after every kill."""

    flow: Path
    db: Path
    bootstrap: str
    group: str
    output: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.launch(
            [
                *(str(self.flow), "--store", str(self.db), "--no-http", "--quiet"),
                *("--log-level", "warning", "--kafka", self.bootstrap, "--group", self.group),
                *("--kafka-option", "group_instance_id=crash-test", "--synchronous", "NORMAL"),
            ]
        )

    def wait_assigned(self) -> None:
        """Wait until this start of flowd has its partitions (and its signal handlers)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.output.read_text(errors="replace")
            if "kafka: assigned" in text.rsplit(f"--- start {self.starts}\n", 1)[-1]:
                return
            time.sleep(0.1)
        raise AssertionError(f"flowd did not get its partitions:\n{self.tail()}")


def check_store(db: Path, *, final: bool) -> int:
    """Check what the store holds; the number of records applied."""
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None) as conn:
        try:
            conn.execute("BEGIN")  # one snapshot for both reads, while flowd writes
            journal = dict(
                conn.execute("SELECT key, count(*) FROM journal GROUP BY key").fetchall()
            )
            rows = conn.execute("SELECT key, snapshot FROM instances").fetchall()
        except sqlite3.OperationalError:
            return 0  # killed before the schema was made
    applied = 0
    for key, snapshot in rows:
        data = json.loads(snapshot)["data"]
        assert data["in_order"] is True, f"{key}: records applied out of order or twice"
        assert data["count"] == journal[key], f"{key}: count {data['count']}, journal {journal}"
        assert data["count"] <= PER_KEY, f"{key}: {data['count']} records applied"
        applied += int(data["count"])
    if final:
        assert len(rows) == KEYS
        assert applied == KEYS * PER_KEY
    return applied


def unsent(db: Path) -> int:
    """Outbox rows not produced yet (a stopped flowd produces them on its next start)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE sent_ms IS NULL").fetchone()[0])


async def produce_all(bootstrap: str, topic: str, rng: random.Random) -> None:
    """All records, in rounds (n = 1 for every key, then 2, ...), spread over
    about the time the kills take, so that they land while records flow."""
    for start in range(1, PER_KEY + 1, ROUND):
        chunk = [
            (f"key-{k}", json.dumps({"id": f"key-{k}", "n": n}).encode(), [])
            for n in range(start, start + ROUND)
            for k in range(KEYS)
        ]
        await produce(bootstrap, topic, chunk)
        await asyncio.sleep(rng.uniform(0.8, 2.0))


async def test_sigkill_loses_and_doubles_nothing(kafka_broker: Broker, tmp_path: Path) -> None:
    seed = int(os.environ.get("FLOWYARD_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    topic_in, topic_out = unique_name("crash-in"), unique_name("crash-out")
    await create_topics(kafka_broker.bootstrap, [topic_in, topic_out], PARTITIONS)
    flow = tmp_path / "tally.flow.yaml"
    flow.write_text(tally_flow(topic_in, topic_out))
    flowd = Flowd(
        flow=flow,
        db=tmp_path / "flowd.db",
        bootstrap=kafka_broker.bootstrap,
        group=unique_name("crash"),
        output=tmp_path / "flowd.out",
    )
    producing = asyncio.create_task(produce_all(kafka_broker.bootstrap, topic_in, rng))
    kills = 0
    progress: list[int] = []
    try:
        while kills < MIN_KILLS:
            flowd.start()
            if rng.random() < 0.2:
                await asyncio.sleep(rng.uniform(0.1, 1.0))  # while starting or joining
            else:
                await asyncio.to_thread(flowd.wait_assigned)
                await asyncio.sleep(rng.uniform(0.0, 1.5))  # while consuming
            assert flowd.proc is not None
            if flowd.proc.poll() is not None:
                raise AssertionError(f"flowd exited by itself (seed {seed}):\n{flowd.tail()}")
            flowd.kill()
            kills += 1
            progress.append(check_store(flowd.db, final=False))
        await producing
        flowd.start()
        flowd.wait_assigned()
        deadline = time.monotonic() + 180
        while check_store(flowd.db, final=False) < KEYS * PER_KEY or unsent(flowd.db):
            assert time.monotonic() < deadline, f"not done (seed {seed}):\n{flowd.tail()}"
            await asyncio.sleep(0.5)
        assert flowd.stop() == 0, flowd.tail()
    finally:
        producing.cancel()
        if flowd.proc is not None and flowd.proc.poll() is None:
            flowd.kill()
    check_store(flowd.db, final=True)
    assert kills >= MIN_KILLS
    # Most kills landed while records were being applied, not before or after.
    assert sum(0 < p < KEYS * PER_KEY for p in progress) >= MIN_KILLS // 2, progress

    emitted = await read_topic(kafka_broker.bootstrap, topic_out, at_least=KEYS * PER_KEY)
    seen = {(r.key, json.loads(r.value or b"null")["n"]) for r in emitted}
    assert len(seen) == KEYS * PER_KEY, "an emit was lost"
    dedup = {dict(r.headers)[DEDUP_HEADER] for r in emitted}
    assert len(dedup) == KEYS * PER_KEY

    verify = subprocess.run(
        [sys.executable, "-m", "flowyard.interpreter.cli", "verify", "--store", str(flowd.db)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    print(f"seed {seed}: {kills} kills, progress at each kill {progress}")
