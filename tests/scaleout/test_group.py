"""Several flowd on one PostgreSQL store and one Kafka group (docs/scaling.md).

`test_three_flowd_through_two_sigkills`: three flowd share 12 store
partitions. 20,000 Kafka records over 200 keys and 12 partitions (record
keys are not the instance keys, so records reach any process) flow in
while HTTP events and signals for the same keys are sent to processes chosen
at random (each key's in order, the next sent once the last was accepted;
retried with the same Idempotency-Key at another process when one dies). One
process is killed with SIGKILL, later another, then the first comes back. In
the end every input was applied exactly once per instance and in its order,
each instance's timer rang once, every emit reached its topic, and the
journals replay to the snapshots. The fail-over times are printed.

`test_paused_flowd_is_fenced`: a flowd paused with SIGSTOP while its effect
calls are in flight loses its partitions to the other; resumed with SIGCONT,
its writes for them are refused (it says `fenced`), the calls it had in
flight are re-issued by the other with the same idempotency key, and every
instance took its effect's result exactly once.

Set FLOWYARD_CHAOS_SEED to replay a run's schedule.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.records import DEDUP_HEADER
from flowyard.interpreter.store.targets import PostgresTarget
from support.flowd_group import Node, wait_until_held
from support.kafka import create_topics, produce, read_topic, unique_name

HERE = Path(__file__).resolve().parent
KEYS = 200
PER_KEY = 100
PARTITIONS = 12
NOTES = 5
POKES = 5
ROUND = 10  # records per key produced at a time

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


@pytest.fixture
def store_url(postgres_cluster: Any, tmp_path: Path) -> str:
    return f"{postgres_cluster.dsn}?schema=group_{os.getpid()}_{tmp_path.name.replace('-', '_')}"


async def connect(url: str) -> Any:
    target = PostgresTarget.parse(url)
    return await asyncpg.connect(
        target.dsn, server_settings={"search_path": target.schema or "public"}
    )


async def table_exists(conn: Any, name: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = $1)",
            name,
        )
    )


async def check_store(url: str, *, final: bool) -> dict[str, int]:
    """Check what the store holds (one snapshot); how many inputs of each kind were applied."""
    conn = await connect(url)
    try:
        if not await table_exists(conn, "instances"):
            return {"count": 0, "notes": 0, "pokes": 0, "rings": 0}
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            journal = dict(await conn.fetch("SELECT key, count(*) FROM journal GROUP BY key"))
            rows = await conn.fetch("SELECT key, snapshot FROM instances")
            letters = await conn.fetch("SELECT source, reason FROM dead_letters")
    finally:
        await conn.close()
    assert not letters, f"dead letters: {[tuple(r) for r in letters]}"
    totals = {"count": 0, "notes": 0, "pokes": 0, "rings": 0}
    for key, snapshot in rows:
        data = json.loads(snapshot)["data"]
        assert data["in_order"], f"{key}: records applied out of order or twice"
        assert data["notes_in_order"], f"{key}: HTTP events applied out of order or twice"
        assert data["pokes_in_order"], f"{key}: signals applied out of order or twice"
        assert data["rings"] <= 1, f"{key}: the timer rang {data['rings']} times"
        applied = data["count"] + data["notes"] + data["pokes"] + data["rings"]
        assert applied == journal[key], f"{key}: {data} but {journal[key]} journal entries"
        for name in totals:
            totals[name] += int(data[name])
        if final:
            assert (data["count"], data["notes"], data["pokes"], data["rings"]) == (
                PER_KEY,
                NOTES,
                POKES,
                1,
            ), f"{key}: {data}"
    if final:
        assert len(rows) == KEYS
    return totals


async def settled(url: str) -> bool:
    """Whether everything was applied and every emit produced."""
    totals = await check_store(url, final=False)
    if totals != {
        "count": KEYS * PER_KEY,
        "notes": KEYS * NOTES,
        "pokes": KEYS * POKES,
        "rings": KEYS,
    }:
        return False
    conn = await connect(url)
    try:
        unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_ms IS NULL")
        inbox = await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await conn.close()
    return unsent == 0 and inbox == 0


async def wait_instances(url: str, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        conn = await connect(url)
        try:
            if (
                await table_exists(conn, "instances")
                and await conn.fetchval("SELECT count(*) FROM instances") >= count
            ):
                return
        finally:
            await conn.close()
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {count} instances after {timeout_s} s")


async def produce_ticks(bootstrap: str, topic: str, rng: random.Random) -> None:
    for start in range(1, PER_KEY + 1, ROUND):
        chunk = [
            # Keyed otherwise than the instances: a record's source partition
            # says nothing of who holds its instance.
            (f"record-{k}", json.dumps({"id": f"key-{k}", "n": n}).encode(), [])
            for n in range(start, start + ROUND)
            for k in range(KEYS)
        ]
        await produce(bootstrap, topic, chunk)
        await asyncio.sleep(rng.uniform(0.5, 1.5))


async def send_until_accepted(
    http: aiohttp.ClientSession,
    nodes: Sequence[Node],
    rng: random.Random,
    *,
    path: str,
    body: dict[str, Any],
    idempotency_key: str,
) -> None:
    """POST to a live node chosen at random, again (same key) until one accepts it."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        live = [n for n in nodes if n.alive]
        node = rng.choice(live)
        try:
            async with http.post(
                node.url + path,
                json=body,
                headers={"Idempotency-Key": idempotency_key},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as reply:
                if reply.status < 300:
                    return
                text = await reply.text()
                assert reply.status in (429, 503), f"{path} {body}: {reply.status} {text}"
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"nobody accepted {path} {body}")


async def send_http(nodes: Sequence[Node], notes_topic: str, rng: random.Random) -> None:
    """Each key's notes and pokes, interleaved, in order; 16 keys at a time."""
    gate = asyncio.Semaphore(16)

    async def one_key(k: int) -> None:
        key = f"key-{k}"
        async with gate, aiohttp.ClientSession() as http:
            for i in range(1, max(NOTES, POKES) + 1):
                if i <= NOTES:
                    await send_until_accepted(
                        http,
                        nodes,
                        rng,
                        path=f"/events/{notes_topic}",
                        body={"id": key, "m": i},
                        idempotency_key=f"note-{key}-{i}",
                    )
                if i <= POKES:
                    await send_until_accepted(
                        http,
                        nodes,
                        rng,
                        path=f"/signals/spread/{key}/poke",
                        body={"p": i},
                        idempotency_key=f"poke-{key}-{i}",
                    )
                await asyncio.sleep(rng.uniform(0.0, 0.5))

    await asyncio.gather(*(one_key(k) for k in range(KEYS)))


def flow_file(tmp_path: Path, name: str, **topics: str) -> Path:
    """This folder's flow `name` with its topic placeholders (IN, ...) replaced."""
    text = (HERE / name).read_text(encoding="utf-8")
    for placeholder, topic in topics.items():
        text = text.replace(f"topic: {placeholder}", f"topic: {topic}")
    flow = tmp_path / name
    flow.write_text(text)
    return flow


def group_of(
    names: list[str], flow: Path, store_url: str, broker: Broker, tmp_path: Path, *, group: str
) -> list[Node]:
    """flowd processes (not started) of one new group on one store, one per name."""
    group = unique_name(group)
    return [
        Node(
            name=name,
            flow=flow,
            store=store_url,
            bootstrap=broker.bootstrap,
            group=group,
            output=tmp_path / f"{name}.out",
            extra=("--partitions", str(PARTITIONS)),
        )
        for name in names
    ]


def flowd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowyard.interpreter.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )


async def test_three_flowd_through_two_sigkills(
    kafka_broker: Broker, store_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("FLOWYARD_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    ticks, notes, out = unique_name("ticks"), unique_name("notes"), unique_name("echo")
    await create_topics(kafka_broker.bootstrap, [ticks], PARTITIONS)
    await create_topics(kafka_broker.bootstrap, [notes, out], 1)
    flow = flow_file(tmp_path, "spread.flow.yaml", IN=ticks, NOTES=notes, OUT=out)
    nodes = group_of(
        [f"flowd-{i}" for i in range(3)], flow, store_url, kafka_broker, tmp_path, group="group"
    )
    producing: asyncio.Task[None] | None = None
    sending: asyncio.Task[None] | None = None
    failovers: list[float] = []
    try:
        for node in nodes:
            node.start()
        await asyncio.to_thread(wait_until_held, nodes, PARTITIONS)
        producing = asyncio.create_task(produce_ticks(kafka_broker.bootstrap, ticks, rng))
        await wait_instances(store_url, KEYS)
        sending = asyncio.create_task(send_http(nodes, notes, rng))
        for victim in (nodes[0], nodes[1]):
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            victim.kill()
            failovers.append(await asyncio.to_thread(wait_until_held, nodes, PARTITIONS))
            await check_store(store_url, final=False)
        nodes[0].start()
        await asyncio.to_thread(wait_until_held, nodes, PARTITIONS)
        await producing
        await sending
        deadline = time.monotonic() + 180
        while not await settled(store_url):
            assert time.monotonic() < deadline, "not done:\n" + "\n".join(
                f"== {n.name}\n{n.tail()}" for n in nodes
            )
            await asyncio.sleep(0.5)
        for node in nodes:
            if node.alive:
                assert node.stop() == 0, node.tail()
    finally:
        for task in (producing, sending):
            if task is not None:
                task.cancel()
        for node in nodes:
            if node.alive:
                node.kill()
    await check_store(store_url, final=True)

    emitted = await read_topic(kafka_broker.bootstrap, out, at_least=KEYS * PER_KEY)
    seen = {(r.key, json.loads(r.value or b"null")["n"]) for r in emitted}
    assert len(seen) == KEYS * PER_KEY, "an emit was lost"
    assert len({dict(r.headers)[DEDUP_HEADER] for r in emitted}) == KEYS * PER_KEY

    verify = flowd("verify", "--store", store_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    print(f"seed {seed}: fail-over after SIGKILL took {', '.join(f'{s:.1f}' for s in failovers)} s")


async def test_paused_flowd_is_fenced(kafka_broker: Broker, store_url: str, tmp_path: Path) -> None:
    ticks = unique_name("naps")
    await create_topics(kafka_broker.bootstrap, [ticks], PARTITIONS)
    flow = flow_file(tmp_path, "napper.flow.yaml", IN=ticks)
    zombie, other = group_of(
        ["zombie", "other"], flow, store_url, kafka_broker, tmp_path, group="zombie"
    )
    naps = tmp_path / "naps.jsonl"
    env = {**os.environ, "FLOWYARD_NAP_LOG": str(naps)}
    try:
        zombie.start(cwd=HERE, env=env)
        other.start(cwd=HERE, env=env)
        await asyncio.to_thread(wait_until_held, [zombie, other], PARTITIONS)
        await produce(
            kafka_broker.bootstrap,
            ticks,
            [(f"key-{k}", json.dumps({"id": f"key-{k}"}).encode(), []) for k in range(KEYS)],
        )
        deadline = time.monotonic() + 60
        # Pause it while its calls run (they take 2 s each).
        assert zombie.proc is not None
        running = f'"pid": {zombie.proc.pid}}}'
        while not naps.exists() or running not in naps.read_text():
            assert time.monotonic() < deadline, zombie.tail()
            await asyncio.sleep(0.02)
        zombie.pause()
        try:
            # The group drops the silent member; the other claims its partitions.
            await asyncio.to_thread(wait_until_held, [other], PARTITIONS)
        finally:
            zombie.resume()
        deadline = time.monotonic() + 60
        while "fenced" not in zombie.since_start():
            assert time.monotonic() < deadline, f"no write refused:\n{zombie.tail()}"
            await asyncio.sleep(0.1)
        conn = await connect(store_url)
        try:
            deadline = time.monotonic() + 120
            while (
                await conn.fetchval("SELECT count(*) FROM instances WHERE state = 'napped'") < KEYS
            ):
                assert time.monotonic() < deadline, f"{zombie.tail()}\n{other.tail()}"
                await asyncio.sleep(0.2)
            journal = dict(await conn.fetch("SELECT key, count(*) FROM journal GROUP BY key"))
            calls = await conn.fetch("SELECT key, status FROM effect_calls")
        finally:
            await conn.close()
        for node in (zombie, other):
            assert node.stop() == 0, node.tail()
    finally:
        for node in (zombie, other):
            if node.alive:
                node.resume()
                node.kill()
    assert journal == {f"key-{k}": 2 for k in range(KEYS)}, "an input was applied twice"
    assert sorted(status for _, status in calls) == ["succeeded"] * KEYS
    # The calls in flight on the paused process were re-issued by the other,
    # with the same idempotency key.
    runs: dict[str, list[dict[str, Any]]] = {}
    for line in naps.read_text().splitlines():
        entry = json.loads(line)
        runs.setdefault(entry["call_id"], []).append(entry)
    assert len(runs) == KEYS
    assert all(len({e["idempotency_key"] for e in each}) == 1 for each in runs.values())
    assert {zombie.proc.pid, other.proc.pid} == {e["pid"] for each in runs.values() for e in each}
    assert any(len({e["pid"] for e in each}) == 2 for each in runs.values()), "none re-issued"
