"""Scale-out benchmark: flowd on PostgreSQL, one process and a partitioned group.

Phase 1: a `flowd run --store postgresql://...` subprocess (not partitioned)
receives N events over K keys through `POST /events` on loopback from a
concurrent client (several events per request), as in `embedded.py`; the
clock stops when the last transition is journaled.

Beside it, in the same run and on the same server, (a) the raw rate of batched
PostgreSQL writes of the same rows (every event's journal row by COPY and its
instance snapshot by an `unnest` upsert, 256 events per transaction: the
store's group-commit bound) into a fresh schema, from one asyncpg connection;
measured before and after the flowd phases and averaged, as the machine's
speed drifts. Target: one flowd at least 25% of (a).

Phase 2 (partitioned mode, docs/scaling.md): (i) one, (ii) two `flowd run
--kafka B --group G --partitions 12 --store postgresql://...?schema=S` start,
each time in a fresh consumer group on a fresh schema reading a fresh topic
of 12 partitions; once every process holds store partitions (`/healthz`) and
reads source partitions (its live output), the same N events are produced
as Kafka records keyed by instance key, and the clock runs from the first
produced to the last transition journaled (the producer shares the CPUs).
Reported: the rates, two/one (not a target: two processes share this
machine's cores with the broker and PostgreSQL), one partitioned process as a
share of (a), and beside phase 1's rate (phase 1 is fed over HTTP, as a store
on PostgreSQL with --kafka is always partitioned).

Fail-over: two partitioned flowd on a fresh schema take records produced at a
steady rate (--failover-rate for --failover-seconds); once both hold
partitions and both have journaled transitions (and --kill-after seconds into
producing), one is killed with SIGKILL. Measured: (a) from the kill until the
survivor's `/healthz` shows all 12 partitions held (polled every 100 ms); (b)
from the kill to the journal time (`at_ms`) of the first transition of an
instance in a partition the killed process held; (c) that every record was
applied exactly once and in order (each key's journal inputs against what
was produced for it). flowd's group defaults apply (session timeout 10 s,
heartbeat 3 s: `KafkaSettings`). Target: at most 15 s.

Durability is PostgreSQL's default: `synchronous_commit = on`, and the
throwaway cluster this starts keeps `fsync = on` (a server given with --dsn is
used as it is configured; the report shows both settings). A broker is
started from the cached jars (`devbroker`) unless --bootstrap is given. Every
flowd phase is bounded by --max-seconds; flowd processes get SIGTERM, then
SIGKILL; the cluster and broker started here are stopped at the end. Exits 1
when a record was lost or applied twice.

Run: python bench/scaleout.py [--events 20000] [--keys 2000] [--phases 1,2,failover]
     [--batch 20] [--concurrency 16] [--max-seconds 300]
     [--failover-rate 200] [--failover-seconds 40] [--kill-after 5]
     [--dsn postgresql://user@host/db] [--bootstrap host:port]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer
from embedded import (
    FLOW,
    RAW_BATCH,
    _cpu_seconds,
    _free_port,
    _post_all,
    _wait_healthy,
    compile_flow,
    in_memory,
    make_events,
    percentile,
)
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.settings import KafkaSettings
from flowyard.interpreter.program import Program
from flowyard.interpreter.store.partitions import partition_of
from flowyard.interpreter.store.postgres_schema import migrate
from kafka import create_topic, produce_all
from scaleout_nodes import (
    PARTITIONS,
    Flowd,
    check_running,
    flow_reading,
    held,
    journal_count,
    journal_rows,
    misapplied,
    start_partitioned,
    stop_all,
    watch,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.postgres import Cluster, PostgresUnavailableError, start  # noqa: E402


async def _connect(dsn: str, schema: str) -> Any:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    await migrate(conn, schema=schema)
    return conn


async def raw_writes(dsn: str, schema: str, ir_hash: str, rows: list[Any]) -> float:
    """(a): the same rows, COPY and unnest in batches, one transaction per batch."""
    conn = await _connect(dsn, schema)
    try:
        started = time.perf_counter()
        for start_at in range(0, len(rows), RAW_BATCH):
            batch = rows[start_at : start_at + RAW_BATCH]
            last = {key: (key, seq + 1, state, snap) for key, _, seq, _, snap, state in batch}
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "journal",
                    records=[
                        ("bench", key, seq, inp, trace, 0) for key, inp, seq, trace, _, _ in batch
                    ],
                    columns=["flow", "key", "seq", "input", "trace", "at_ms"],
                )
                await conn.execute(
                    "INSERT INTO instances (flow, key, ir_hash, seq, state, status, snapshot, "
                    "updated_ms) SELECT 'bench', key, $1, seq, state, 'active', snapshot, 0 "
                    "FROM unnest($2::text[], $3::bigint[], $4::text[], $5::json[]) "
                    "AS u(key, seq, state, snapshot) ON CONFLICT (flow, key) DO UPDATE SET "
                    "seq = excluded.seq, state = excluded.state, snapshot = excluded.snapshot",
                    ir_hash,
                    *[list(column) for column in zip(*last.values(), strict=True)],
                )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def through_flowd(
    workdir: Path,
    dsn: str,
    schema: str,
    events: list[dict[str, Any]],
    *,
    batch: int,
    concurrency: int,
    max_seconds: float,
) -> tuple[float, list[float], int]:
    """flowd on PostgreSQL, fed over HTTP: seconds, ack latencies, inbox rows written."""
    flow_path = workdir / "bench.flow.yaml"
    flow_path.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    store = f"{dsn}?schema={schema}"
    command = [
        sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow_path),
        "--store", store, "--http", f"127.0.0.1:{port}", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    watcher = await _connect(dsn, schema)
    try:
        await _wait_healthy(base, proc)
        deadline = time.monotonic() + max_seconds
        started = time.perf_counter()
        acks = await _post_all(base, events, batch, concurrency, deadline)
        while await journal_count(watcher) < len(events):
            if time.monotonic() > deadline:
                raise SystemExit("time bound reached while waiting for transitions")
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - started
        inbox_rows = await watcher.fetchval(
            "SELECT coalesce(max(last_value), 0) FROM pg_sequences "
            "WHERE schemaname = $1 AND sequencename = 'inbox_id_seq'",
            schema,
        )
    finally:
        await watcher.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return seconds, acks, int(inbox_rows or 0)


# ------------------------------------------------- phase two: partitioned mode

POLL_S = 0.1
"""How often the fail-over phase asks `/healthz` and the journal."""


@dataclass(frozen=True, slots=True)
class GroupRun:
    """Partitioned flowd, all holding partitions, consuming records produced then."""

    processes: int
    ready_s: float
    """From launch until every process held store partitions and read source ones."""
    seconds: float
    """From the first record produced to the last transition journaled."""
    produce_s: float
    held: tuple[int, ...]
    """How many store partitions each process held at the end."""
    sources: tuple[int, ...]
    """How many source partitions each process read at the end."""
    cpu_s: tuple[float, ...]
    """CPU time (user + system) each process used while the clock ran."""
    journal: int
    misapplied: int


_ASSIGNED = re.compile(r"kafka: assigned (.*)$", re.MULTILINE)


def source_partitions(node: Flowd, topic: str) -> set[int]:
    """The partitions of `topic` the node's records consumer was last assigned."""
    found = _ASSIGNED.findall(node.log.read_text(errors="replace"))
    if not found:
        return set()
    last = re.search(re.escape(topic) + r"\[([\d,]+)\]", found[-1])
    return {int(p) for p in last.group(1).split(",")} if last else set()


async def wait_spread(
    http: aiohttp.ClientSession, nodes: list[Flowd], topic: str, deadline: float
) -> None:
    """Until the store partitions and the topic's partitions are each spread
    over every process (each holds or reads some, together all, once)."""
    while True:
        helds = await asyncio.gather(*(held(http, n) for n in nodes))
        reads = [source_partitions(n, topic) for n in nodes]
        every = list(range(PARTITIONS))
        if (
            all(helds)
            and all(reads)
            and sorted(p for h in helds for p in h) == every
            and sorted(p for r in reads for p in r) == every
        ):
            return
        check_running(nodes, deadline, "the partitions spread over every process")
        await asyncio.sleep(0.1)


async def through_group(
    workdir: Path,
    dsn: str,
    schema: str,
    *,
    bootstrap: str,
    events: list[dict[str, Any]],
    processes: int,
    max_seconds: float,
) -> GroupRun:
    """`processes` partitioned flowd in a fresh group on a fresh schema; once
    every one holds store partitions and reads source partitions, the records
    are produced to a fresh topic and the clock runs until the last is journaled."""
    topic = f"bench-scaleout-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, PARTITIONS)
    flow = flow_reading(workdir, topic)
    group = f"bench-{processes}p-{uuid.uuid4().hex[:8]}"
    store = f"{dsn}?schema={schema}"
    nodes: list[Flowd] = []
    watcher: Any = None
    try:
        deadline = time.monotonic() + max_seconds
        launched = time.perf_counter()
        for i in range(processes):
            nodes.append(
                start_partitioned(
                    workdir, flow, store, bootstrap=bootstrap, group=group, name=f"{schema}-{i}"
                )
            )
        async with aiohttp.ClientSession() as http:
            await wait_spread(http, nodes, topic, deadline)
            ready_s = time.perf_counter() - launched
            watcher = await watch(dsn, schema)
            cpu_at_start = [_cpu_seconds(n.proc.pid) or 0.0 for n in nodes]
            started = time.perf_counter()
            producing = asyncio.create_task(produce_all(bootstrap, topic, events))
            while await journal_rows(watcher) < len(events):
                check_running(nodes, deadline, "transitions")
                await asyncio.sleep(0.02)
            seconds = time.perf_counter() - started
            cpu = [
                (_cpu_seconds(n.proc.pid) or 0.0) - c
                for n, c in zip(nodes, cpu_at_start, strict=True)
            ]
            produce_s = await producing
            final = await asyncio.gather(*(held(http, n) for n in nodes))
        await asyncio.sleep(0.5)  # anything applied twice would show up now
        journal = await journal_rows(watcher)
        wrong = await misapplied(watcher, events)
    finally:
        if watcher is not None:
            await watcher.close()
        stop_all(nodes)
    return GroupRun(
        processes=processes,
        ready_s=ready_s,
        seconds=seconds,
        produce_s=produce_s,
        held=tuple(len(h) for h in final),
        sources=tuple(len(source_partitions(n, topic)) for n in nodes),
        cpu_s=tuple(cpu),
        journal=journal,
        misapplied=wrong,
    )


# ------------------------------------------------------------------- fail-over


@dataclass(frozen=True, slots=True)
class Failover:
    produced: int
    produce_s: float
    victim_held: tuple[int, ...]
    """The store partitions the killed process held."""
    all_held_s: float
    """From the SIGKILL until the survivor's /healthz shows all partitions held."""
    first_transition_s: float
    """From the SIGKILL to the journal time of the first transition of an
    instance in a partition the killed process held."""
    journal: int
    misapplied: int


async def produce_steady(
    bootstrap: str, topic: str, events: list[dict[str, Any]], rate: float
) -> float:
    """Produce `events` (keyed by instance key) at `rate` a second; the seconds it took."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        tick = max(1, round(rate * POLL_S))
        for i in range(0, len(events), tick):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            for event in events[i : i + tick]:
                await producer.send(topic, json.dumps(event).encode(), key=event["id"].encode())
        await producer.flush()
        return time.perf_counter() - started
    finally:
        await producer.stop()


def keys_of(partitions: Any, keys: list[str]) -> list[str]:
    chosen = set(partitions)
    return [key for key in keys if partition_of(key, PARTITIONS) in chosen]


async def fail_over(
    workdir: Path,
    dsn: str,
    schema: str,
    bootstrap: str,
    *,
    keys: int,
    rate: float,
    seconds: float,
    kill_after: float,
    max_seconds: float,
) -> Failover:
    """Two partitioned flowd take records produced at `rate`; one is killed
    with SIGKILL once both step instances, `kill_after` s into producing."""
    topic = f"bench-failover-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, PARTITIONS)
    flow = flow_reading(workdir, topic)
    group = f"bench-failover-{uuid.uuid4().hex[:8]}"
    store = f"{dsn}?schema={schema}"
    events = make_events(max(1, int(rate * seconds)), keys)
    names = sorted({e["id"] for e in events})
    nodes: list[Flowd] = []
    producing: asyncio.Task[float] | None = None
    watcher = await watch(dsn, schema)
    try:
        deadline = time.monotonic() + max_seconds
        for i in range(2):
            nodes.append(
                start_partitioned(
                    workdir, flow, store, bootstrap=bootstrap, group=group, name=f"{schema}-{i}"
                )
            )
        victim, survivor = nodes
        async with aiohttp.ClientSession() as http:

            async def split() -> list[dict[int, int]] | None:
                """Each process's partitions, when both hold some and all are held once."""
                helds = list(await asyncio.gather(*(held(http, n) for n in nodes)))
                taken = sorted(p for h in helds for p in h)
                return helds if all(helds) and taken == list(range(PARTITIONS)) else None

            while await split() is None:
                check_running(nodes, deadline, "both processes holding partitions")
                await asyncio.sleep(POLL_S)
            producing = asyncio.create_task(produce_steady(bootstrap, topic, events, rate))
            producing_since = time.perf_counter()
            while True:
                check_running(nodes, deadline, "transitions on both processes")
                if producing.done():
                    raise SystemExit("records ran out before the kill: raise --failover-seconds")
                helds = await split()
                if time.perf_counter() - producing_since >= kill_after and helds is not None:
                    theirs = keys_of(helds[0], names)
                    ours = keys_of(helds[1], names)
                    if await journal_rows(watcher, theirs) and await journal_rows(watcher, ours):
                        break
                await asyncio.sleep(POLL_S)
            kill_ms = time.time_ns() // 1_000_000
            killed = time.perf_counter()
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            dead_ms = time.time_ns() // 1_000_000
            all_held_s: float | None = None
            first_ms: int | None = None
            while all_held_s is None or first_ms is None:
                check_running([survivor], deadline, "the survivor taking over")
                if all_held_s is None and len(await held(http, survivor)) == PARTITIONS:
                    all_held_s = time.perf_counter() - killed
                if first_ms is None:
                    # The killed process stamped its rows before it died: later
                    # rows of its instances are the survivor's.
                    found = await watcher.fetchval(
                        "SELECT min(at_ms) FROM journal WHERE key = ANY($1::text[]) AND at_ms > $2",
                        theirs,
                        dead_ms,
                    )
                    first_ms = None if found is None else int(found)
                await asyncio.sleep(POLL_S)
            produce_s = await producing
            while await journal_rows(watcher) < len(events):
                check_running([survivor], deadline, "the last transitions")
                await asyncio.sleep(POLL_S)
        await asyncio.sleep(0.5)  # anything applied twice would show up now
        journal = await journal_rows(watcher)
        wrong = await misapplied(watcher, events)
    finally:
        if producing is not None and not producing.done():
            producing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producing
        await watcher.close()
        stop_all(nodes)
    return Failover(
        produced=len(events),
        produce_s=produce_s,
        victim_held=tuple(sorted(helds[0])),
        all_held_s=all_held_s,
        first_transition_s=(first_ms - kill_ms) / 1000,
        journal=journal,
        misapplied=wrong,
    )


# ---------------------------------------------------------------------- report

PHASES = ("1", "2", "failover")
TARGET_SHARE = 0.25
TARGET_FAILOVER_S = 15.0


@dataclass
class Results:
    raw: tuple[float, float] | None = None
    """Raw batched writes before and after the flowd phases, rows/s."""
    http: tuple[float, list[float], int] | None = None
    groups: list[GroupRun] = field(default_factory=list)
    failover: Failover | None = None
    fsync: str = "?"
    synchronous_commit: str = "?"


async def partitioned_phase(
    workdir: Path,
    dsn: str,
    tag: str,
    *,
    bootstrap: str,
    events: list[dict[str, Any]],
    results: Results,
    max_seconds: float,
) -> None:
    """Phase two: one, then two partitioned flowd, each fed once it holds partitions."""
    for processes in (1, 2):
        results.groups.append(
            await through_group(
                workdir,
                dsn,
                f"{tag}_group{processes}",
                bootstrap=bootstrap,
                events=events,
                processes=processes,
                max_seconds=max_seconds,
            )
        )


async def durability(dsn: str) -> tuple[str, str]:
    """The server's `fsync` and `synchronous_commit` settings."""
    conn = await asyncpg.connect(dsn)
    try:
        fsync = await conn.fetchval("SHOW fsync")
        return str(fsync), str(await conn.fetchval("SHOW synchronous_commit"))
    finally:
        await conn.close()


def report(args: argparse.Namespace, n: int, results: Results, load: float) -> bool:
    """Print what was measured; False when an input was lost or applied twice."""
    sound = True
    print(
        f"{os.cpu_count()} CPUs, load average {load:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end (clients, flowd, the broker, PostgreSQL and "
        f"the baseline share them); PostgreSQL fsync = {results.fsync}, synchronous_commit = "
        f"{results.synchronous_commit}"
    )
    raw_rate = None
    if results.raw is not None:
        before, after = (n / s for s in results.raw)
        raw_rate = (before + after) / 2
    http_rate = None
    if results.http is not None:
        seconds, acks, inbox_rows = results.http
        http_rate = n / seconds
        print(
            f"phase 1: {n:,} events over {args.keys:,} keys, {len(acks):,} requests of "
            f"{args.batch} events, {args.concurrency} in flight"
        )
        print(
            f"  one flowd on PostgreSQL, POST /events -> durable transitions : {http_rate:9,.0f}/s"
        )
    if raw_rate is not None and results.raw is not None:
        before, after = (n / s for s in results.raw)
        print(
            f"  (a) raw batched PostgreSQL writes, same rows (COPY + unnest) : {raw_rate:9,.0f}/s"
            f"  (mean of {before:,.0f} before and {after:,.0f} after)"
        )
    if results.http is not None and http_rate is not None and raw_rate is not None:
        seconds, acks, inbox_rows = results.http
        print(
            f"  stepped on arrival     {1 - inbox_rows / n:6.1%} of events"
            f"  (the others passed through the inbox: {inbox_rows:,} rows)"
        )
        print(
            f"  request ack latency      p50 {statistics.median(acks):7.1f} ms"
            f"   p99 {percentile(acks, 0.99):7.1f} ms"
        )
        ratio = http_rate / raw_rate
        print(f"  flowd / raw PostgreSQL writes : {ratio:6.1%}  (target >= 25%)")
        if ratio < TARGET_SHARE:
            print("  below target")
    if results.groups:
        print(
            f"phase 2: {n:,} records over {args.keys:,} keys, keyed by instance key; "
            f"flowd run --kafka --group (fresh) --partitions {PARTITIONS} on a fresh schema, "
            f"a fresh topic of {PARTITIONS} partitions; once every process holds store "
            "partitions and reads source partitions, the records are produced (the producer "
            "shares the CPUs) and the clock runs from the first produced to the last "
            "transition journaled"
        )
        rates = {}
        for run in results.groups:
            rate = n / run.seconds
            rates[run.processes] = rate
            label = "one partitioned flowd" if run.processes == 1 else "two partitioned flowd"
            print(
                f"  {label}, Kafka -> durable transitions    : {rate:9,.0f}/s"
                f"  (ready {run.ready_s:.1f} s after launch; produced at "
                f"{n / run.produce_s:,.0f}/s)"
            )
            print(
                f"    store partitions held: {' + '.join(map(str, run.held))}; source "
                f"partitions read: {' + '.join(map(str, run.sources))}"
            )
            cpu = " + ".join(f"{c:.1f}" for c in run.cpu_s)
            print(
                f"    flowd CPU while the clock ran: {cpu} s, "
                f"{sum(run.cpu_s) / n * 1e6:,.0f} us per transition"
            )
            print(
                f"    journal {run.journal:,} of {n:,} records; keys not applied exactly once "
                f"in order: {run.misapplied}"
            )
            sound = sound and run.journal == n and run.misapplied == 0
        if 1 in rates and 2 in rates:
            print(
                f"  two / one partitioned flowd : {rates[2] / rates[1]:6.2f}x  (reported, not a "
                f"target: {os.cpu_count()} CPUs shared with the broker and PostgreSQL)"
            )
        if 1 in rates and raw_rate is not None:
            share = rates[1] / raw_rate
            print(
                f"  one partitioned flowd / raw PostgreSQL writes : {share:6.1%}  (target >= 25%)"
            )
            if share < TARGET_SHARE:
                print("  below target")
        if 1 in rates and http_rate is not None:
            print(
                f"  one partitioned flowd / one flowd not partitioned (phase 1, POST /events) : "
                f"{rates[1] / http_rate:6.1%}"
            )
    elif results.http is not None:
        print("phase 2 (partitioned, Kafka): not run (--phases)")
    fo = results.failover
    if fo is not None:
        defaults = KafkaSettings(bootstrap="")
        print(
            f"fail-over: two partitioned flowd, {PARTITIONS} partitions, {fo.produced:,} records "
            f"over {min(args.keys, fo.produced):,} keys produced at "
            f"{fo.produced / fo.produce_s:,.0f}/s; "
            f"SIGKILL to one {args.kill_after:g} s into producing; session timeout "
            f"{defaults.session_timeout_ms / 1000:g} s, heartbeat "
            f"{defaults.heartbeat_interval_ms / 1000:g} s (flowd's defaults)"
        )
        print(f"  the killed process held partitions {', '.join(map(str, fo.victim_held))}")
        print(
            f"  (a) SIGKILL -> survivor holds all {PARTITIONS} partitions    : "
            f"{fo.all_held_s:6.1f} s  (target <= {TARGET_FAILOVER_S:g} s)"
        )
        if fo.all_held_s > TARGET_FAILOVER_S:
            print("  above target")
        print(
            f"  (b) SIGKILL -> first transition of its instances   : "
            f"{fo.first_transition_s:6.1f} s  (target <= {TARGET_FAILOVER_S:g} s)"
        )
        if fo.first_transition_s > TARGET_FAILOVER_S:
            print("  above target")
        print(
            f"  (c) journal {fo.journal:,} of {fo.produced:,} records; keys not applied exactly "
            f"once in order: {fo.misapplied}"
        )
        sound = sound and fo.journal == fo.produced and fo.misapplied == 0
    if not sound:
        print("  AN INPUT WAS LOST OR APPLIED TWICE")
    return sound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=20, help="events per POST (phase 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (phase 1)")
    parser.add_argument(
        "--max-seconds", type=float, default=300, help="bound on each flowd phase, in seconds"
    )
    parser.add_argument("--dsn", help="an existing PostgreSQL (default: a throwaway cluster)")
    parser.add_argument("--bootstrap", help="an existing Kafka broker (default: one started here)")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="which to run, of 1,2,failover (default: all)"
    )
    parser.add_argument(
        "--failover-rate", type=float, default=200, help="records/s produced in the fail-over"
    )
    parser.add_argument(
        "--failover-seconds", type=float, default=40, help="how long they are produced"
    )
    parser.add_argument(
        "--kill-after", type=float, default=5, help="seconds into producing before the SIGKILL"
    )
    args = parser.parse_args()
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if not phases or phases - set(PHASES):
        parser.error(f"--phases: a comma-separated choice of {', '.join(PHASES)}")
    load = os.getloadavg()[0]
    ir = compile_flow()
    events = make_events(args.events, args.keys)
    _, rows = in_memory(Program.from_ir(ir), events)
    results = Results()
    cluster: Cluster | None = None
    broker: Broker | None = None
    tag = f"bench_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="flowyard-bench-") as tmp:
        workdir = Path(tmp)
        try:
            dsn = args.dsn
            if dsn is None:
                try:
                    cluster = start(fsync=True)
                except PostgresUnavailableError as error:
                    raise SystemExit(f"scaleout: {error}") from None
                dsn = cluster.dsn
            bootstrap = args.bootstrap
            if bootstrap is None and phases & {"2", "failover"}:
                broker = Broker.create(workdir / "broker")
                broker.start()
                bootstrap = broker.bootstrap
            results.fsync, results.synchronous_commit = asyncio.run(durability(dsn))
            ir_hash = str(ir["hash"])
            raw = bool(phases & {"1", "2"})
            if raw:
                raw_before = asyncio.run(raw_writes(dsn, f"{tag}_raw1", ir_hash, rows))
            if "1" in phases:
                results.http = asyncio.run(
                    through_flowd(
                        workdir,
                        dsn,
                        f"{tag}_flowd",
                        events,
                        batch=args.batch,
                        concurrency=args.concurrency,
                        max_seconds=args.max_seconds,
                    )
                )
            if "2" in phases:
                assert bootstrap is not None
                asyncio.run(
                    partitioned_phase(
                        workdir,
                        dsn,
                        tag,
                        bootstrap=bootstrap,
                        events=events,
                        results=results,
                        max_seconds=args.max_seconds,
                    )
                )
            if raw:
                raw_after = asyncio.run(raw_writes(dsn, f"{tag}_raw2", ir_hash, rows))
                results.raw = (raw_before, raw_after)
            if "failover" in phases:
                assert bootstrap is not None
                results.failover = asyncio.run(
                    fail_over(
                        workdir,
                        dsn,
                        f"{tag}_failover",
                        bootstrap,
                        keys=args.keys,
                        rate=args.failover_rate,
                        seconds=args.failover_seconds,
                        kill_after=args.kill_after,
                        max_seconds=args.max_seconds,
                    )
                )
        finally:
            if broker is not None:
                broker.stop()
            if cluster is not None:
                cluster.stop()
    if not report(args, len(events), results, load):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
