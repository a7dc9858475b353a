"""Crash test: `flowd run` killed with SIGKILL at random moments while 100 keys get events.

Each key receives Start, Step 1..3 and Finish over HTTP, each POST carrying an
Idempotency-Key and retried until acknowledged. Every input runs the `work`
effect (its first attempt fails, every attempt is logged with its idempotency
key by chaos_effects.py); the final state emits. flowd is SIGKILLed at least
20 times; after each kill (with no writer running) and at the end we check:

- no input was applied twice (journal counts), and at the end each exactly once;
- every key ends `finished` with 3 steps, and emitted once;
- no call completed in the store ever ran another attempt;
- every attempt of one call carried the same idempotency key;
- `flowd verify` rebuilds every instance from its journal.

Set FLOWYARD_CHAOS_SEED to replay a run's kill schedule and pacing.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.restarted_flowd import RestartedFlowd

HERE = Path(__file__).resolve().parent
FLOW = HERE / "crash.flow.yaml"
KEYS = 100
MIN_KILLS = 20
EVENTS_PER_KEY = 5

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _events(key: str) -> list[dict[str, Any]]:
    steps = [{"type": "step", "id": key, "n": n} for n in (1, 2, 3)]
    return [{"type": "start", "id": key}, *steps, {"type": "finish", "id": key}]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Flowd(RestartedFlowd):
    """The flowd subprocess under test, restarted after every kill."""

    db: Path
    port: int
    effects_log: Path
    output: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launch(
            [
                *(str(FLOW), "--store", str(self.db), "--http", f"127.0.0.1:{self.port}"),
                *("--quiet", "--log-level", "warning"),
            ],
            env={**os.environ, "FLOWYARD_CHAOS_LOG": str(self.effects_log)},
            cwd=HERE,
        )

    async def wait_healthy(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"flowd exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                async with session.get(f"{self.base}/healthz") as response:
                    if response.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"flowd did not become healthy:\n{self.tail()}")


@dataclass
class Ledger:
    """What the checks remember between kills."""

    completed_calls: dict[str, int] = field(default_factory=dict)
    """call_id -> how many log lines it had when first seen succeeded in the store."""


def _log_entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_store(db: Path, effects_log: Path, ledger: Ledger, *, final: bool) -> None:
    """The invariants, read straight from the store and the effects' own log."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        journal = conn.execute("SELECT key, seq, input FROM journal WHERE flow = 'crashy'")
        inputs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for key, _, text in journal.fetchall():
            inputs[str(key)].append(json.loads(text))
        calls = {
            str(call_id): (str(status), int(attempts), str(idem))
            for call_id, status, attempts, idem in conn.execute(
                "SELECT call_id, status, attempts, idempotency_key FROM effect_calls "
                "WHERE effect = 'work'"
            ).fetchall()
        }
        attempt_keys = conn.execute(
            "SELECT call_id, idempotency_key FROM effect_attempts"
        ).fetchall()
        instances = {
            str(key): {"state": state, "status": status, "data": json.loads(data)}
            for key, state, status, data in conn.execute(
                "SELECT key, state, status, json_extract(snapshot, '$.data') FROM instances "
                "WHERE flow = 'crashy'"
            ).fetchall()
        }
        emitted = Counter(
            str(key)
            for (key,) in conn.execute(
                "SELECT key FROM embedded_log WHERE topic = 'jobs-done'"
            ).fetchall()
        )

    # Every input applied at most once (exactly once at the end).
    for key, applied in inputs.items():
        events = Counter(
            (i["name"], (i["payload"] or {}).get("n")) for i in applied if i["kind"] == "event"
        )
        assert all(n == 1 for n in events.values()), f"{key}: an event applied twice: {events}"
        results = Counter(i["call_id"] for i in applied if i["kind"] == "effect_result")
        assert all(n == 1 for n in results.values()), f"{key}: a result applied twice: {results}"
        if final:
            assert sum(events.values()) == EVENTS_PER_KEY, f"{key}: {events}"

    # Same idempotency key for every attempt of a call, in the store and in the effect's log.
    for call_id, idem in attempt_keys:
        assert idem == calls[str(call_id)][2], f"{call_id}: attempt with another key"
    entries = _log_entries(effects_log)
    keys_by_call: dict[str, set[str]] = defaultdict(set)
    lines_by_call: Counter[str] = Counter()
    for entry in entries:
        keys_by_call[entry["call_id"]].add(entry["idempotency_key"])
        lines_by_call[entry["call_id"]] += 1
    for call_id, keys in keys_by_call.items():
        assert len(keys) == 1, f"{call_id}: attempts carried different keys {keys}"
        if call_id in calls:
            assert keys == {calls[call_id][2]}, f"{call_id}: log key differs from the store's"

    # A call completed in the store never runs again.
    for call_id, seen_lines in ledger.completed_calls.items():
        assert lines_by_call[call_id] == seen_lines, f"{call_id} ran again after completing"
    for call_id, (status, attempts, _) in calls.items():
        if status == "succeeded" and call_id not in ledger.completed_calls:
            ledger.completed_calls[call_id] = lines_by_call[call_id]
            started = {e["attempt"] for e in entries if e["call_id"] == call_id}
            assert max(started, default=0) <= attempts, (
                f"{call_id}: an attempt numbered past the {attempts} recorded"
            )

    if final:
        assert len(instances) == KEYS
        for key, snapshot in instances.items():
            assert (snapshot["state"], snapshot["status"]) == ("finished", "completed"), key
            assert snapshot["data"]["steps"] == 3, key
            assert emitted[key] == 1, f"{key} emitted {emitted[key]} times"
        assert all(status == "succeeded" for status, _, _ in calls.values())
        assert len(calls) == KEYS * EVENTS_PER_KEY


async def send_events(
    session: aiohttp.ClientSession, base: str, key: str, rng: random.Random
) -> int:
    """POST the key's events in order, each retried until acknowledged; returns retries."""
    retries = 0
    for index, event in enumerate(_events(key)):
        await asyncio.sleep(rng.uniform(0.1, 1.5))
        headers = {"Idempotency-Key": f"{key}:{index}"}
        while True:
            try:
                async with session.post(
                    f"{base}/events/jobs", json=event, headers=headers
                ) as response:
                    body = await response.json(content_type=None)
                    if response.status == 202:
                        assert body["results"][0]["status"] == "accepted", body
                        break
                    assert response.status >= 500, (response.status, body)
            except (TimeoutError, aiohttp.ClientError):
                pass
            retries += 1
            await asyncio.sleep(0.05)
    return retries


async def _wait_finished(session: aiohttp.ClientSession, flowd: Flowd) -> None:
    deadline = time.monotonic() + 90
    url = f"{flowd.base}/instances/crashy?state=finished&limit=1000"
    while time.monotonic() < deadline:
        async with session.get(url) as response:
            if (await response.json())["count"] == KEYS:
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not every key finished:\n{flowd.tail()}")


async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("FLOWYARD_CHAOS_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    flowd = Flowd(
        db=tmp_path / "flowd.db",
        port=_free_port(),
        effects_log=tmp_path / "effects.jsonl",
        output=tmp_path / "flowd.out",
    )
    ledger = Ledger()
    kills = 0
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            flowd.start()
            await flowd.wait_healthy(session)
            keys = [f"k{i:03d}" for i in range(KEYS)]
            senders = [
                asyncio.create_task(
                    send_events(session, flowd.base, key, random.Random(rng.random()))
                )
                for key in keys
            ]
            while kills < MIN_KILLS or not all(s.done() for s in senders):
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                flowd.kill()
                kills += 1
                check_store(flowd.db, flowd.effects_log, ledger, final=False)
                flowd.start()
                await flowd.wait_healthy(session)
            retries = sum(await asyncio.gather(*senders))
            await _wait_finished(session, flowd)
        assert flowd.stop() == 0, flowd.tail()
        check_store(flowd.db, flowd.effects_log, ledger, final=True)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n(seed {seed}, after {kills} kills)") from exc
    finally:
        if flowd.proc is not None and flowd.proc.poll() is None:
            flowd.proc.kill()
            flowd.proc.wait()
    assert kills >= MIN_KILLS
    assert retries > 0, "no request was ever retried: the kills missed the traffic"
    verify = subprocess.run(
        [sys.executable, "-m", "flowyard.interpreter.cli", "verify", "--store", str(flowd.db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"verified {KEYS} instance(s)" in verify.stdout
