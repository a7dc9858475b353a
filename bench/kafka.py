"""Kafka benchmark: the same flow and records, from Kafka and over HTTP, in one run.

N JSON records over K keys are produced to a topic of P partitions on one
broker (started here from the cached jars, or --bootstrap), then consumed:

(a) by aiokafka alone, `json.loads` of each value: the raw rate of reading;
(b) by `flowd run --kafka` (SQLite, synchronous=FULL, no live output), from
    its partitions' assignment to the last transition journaled;
(c) by `flowd run` through `POST /events` (bench/embedded.py's path: the same
    flow, the same events, batches of 20, 16 requests in flight).

Reported: the rates, (b)/(a), (b)/(c), the flow's `step()` in a loop over the
same events with no store (how fast this machine runs Python on one CPU at the
time, to tell a slow machine from a slow flowd), and, while records are produced at
half of (b)'s rate for about --latency-seconds, the latency from a record's
produce timestamp to its transition committed (its journal row first seen
by a reader polling the database, `journal_watch`) and to its transition
applied (the step's `at_ms`, before the commit).
Targets: (b) >= (c), (b) >= 10% of (a), p99 (committed) <= 50 ms at half load.
The broker, the client and flowd share the machine's CPUs.

With --burst [N] (1,000,000 when N is left out) it runs one other phase
instead: N records are produced before flowd starts, then `flowd run --kafka`
consumes them all; reported are flowd's peak resident memory (VmHWM of
/proc/<pid>/status) and its store writer process's, the rate, and how many
were applied when --max-seconds ran out, if it did. Backpressure is what keeps that peak bounded.

Run: python bench/kafka.py [--events 200000] [--keys 2000] [--partitions 6] [--store-writer thread]
     python bench/kafka.py --burst [N] [--keys 2000] [--max-seconds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from embedded import (
    FLOW,
    _applied_latencies,
    _journal_count,
    _journal_count_exact,
    compile_flow,
    make_events,
    percentile,
    stepped,
    through_http,
)
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.program import Program
from flowyard.interpreter.store import Writer
from journal_watch import JournalWatch


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
        for _ in range(100):
            described = await admin.describe_topics([topic])
            if (
                all(p["leader"] >= 0 for p in described[0]["partitions"])
                and described[0]["partitions"]
            ):
                return
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def produce_all(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> float:
    """Produce every event (keyed by its id); the seconds it took."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    started = time.perf_counter()
    try:
        waiting = [
            await producer.send(topic, json.dumps(e).encode(), key=e["id"].encode()) for e in events
        ]
        for future in waiting[-1000:]:
            await future
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def raw_consume(bootstrap: str, topic: str, partitions: int, count: int) -> float:
    """(a): read `count` records with json.loads of each; the seconds it took."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen = 0
    started = time.perf_counter()
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for records in batches.values():
                for record in records:
                    json.loads(record.value or b"null")
                seen += sum(len(r) for r in batches.values())
    finally:
        await consumer.stop()
    return time.perf_counter() - started


def start_flowd(  # noqa: PLR0917 - what each phase names
    workdir: Path, flow: Path, db: Path, bootstrap: str, log: Path, writer: str
) -> Any:
    command = [
        sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow),
        "--store", str(db), "--no-http", "--quiet", "--synchronous", "FULL",
        "--kafka", bootstrap, "--group", f"bench-{uuid.uuid4().hex[:8]}",
        "--store-writer", writer,
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: Any) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_for(predicate: Any, what: str, deadline: float, proc: Any, log: Path) -> None:
    while not predicate():
        if proc.poll() is not None:
            raise SystemExit(f"flowd exited ({what}):\n{log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"time bound reached while waiting: {what}")
        await asyncio.sleep(0.01)


async def through_kafka(  # noqa: PLR0917 - the phase's parameters
    workdir: Path, bootstrap: str, topic: str, count: int, max_seconds: float, writer: str
) -> float:
    """(b): from assignment to the last transition journaled; seconds."""
    flow = workdir / "kafka.flow.yaml"
    flow.write_text(textwrap.dedent(FLOW).replace("topic: pings", f"topic: {topic}"))
    db, log = workdir / "kafka.db", workdir / "flowd-kafka.out"
    proc = start_flowd(workdir, flow, db, bootstrap, log, writer)
    deadline = time.monotonic() + max_seconds
    try:
        await wait_for(
            lambda: "kafka: assigned" in log.read_text(), "assignment", deadline, proc, log
        )
        started = time.perf_counter()
        await wait_for(lambda: _journal_count(db) >= count, "transitions", deadline, proc, log)
        seconds = time.perf_counter() - started
    finally:
        stop(proc)
    _journal_count_exact(db)
    return seconds


async def produce_burst(bootstrap: str, topic: str, count: int, keys: int) -> float:
    """Produce `count` records over `keys` keys, made as they go (the bench
    holds a few thousand at a time, not all of them); the seconds it took."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    started = time.perf_counter()
    try:
        for i in range(count):
            e = {"id": f"k{i % keys:05d}", "n": i // keys}
            await producer.send(topic, json.dumps(e).encode(), key=e["id"].encode())
            if i % 10_000 == 9_999:
                await producer.flush()
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set (VmHWM) in KiB, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (flowd's store writer)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


async def burst(args: argparse.Namespace, workdir: Path, bootstrap: str) -> None:
    """Produce --burst records, then let flowd consume them; its peak RSS and rate."""
    n: int = args.burst
    topic = f"bench-burst-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, args.partitions)
    produce_s = await produce_burst(bootstrap, topic, n, args.keys)
    flow = workdir / "burst.flow.yaml"
    flow.write_text(textwrap.dedent(FLOW).replace("topic: pings", f"topic: {topic}"))
    db, log = workdir / "burst.db", workdir / "flowd-burst.out"
    proc = start_flowd(workdir, flow, db, bootstrap, log, args.store_writer)
    deadline = time.monotonic() + args.max_seconds
    peak = writer_peak = 0
    applied = 0
    try:
        await wait_for(
            lambda: "kafka: assigned" in log.read_text(), "assignment", deadline, proc, log
        )
        writers = children(proc.pid)
        started = time.perf_counter()
        while applied < n and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"flowd exited:\n{log.read_text()[-2000:]}")
            peak = max(peak, peak_rss_kib(proc.pid) or 0)
            writer_peak = max(writer_peak, sum(peak_rss_kib(w) or 0 for w in writers))
            applied = _journal_count(db)
            await asyncio.sleep(0.5)
        seconds = time.perf_counter() - started
        peak = max(peak, peak_rss_kib(proc.pid) or 0)
        writer_peak = max(writer_peak, sum(peak_rss_kib(w) or 0 for w in writers))
    finally:
        stop(proc)
    _journal_count_exact(db)
    pauses = log.read_text().count("kafka: paused")
    print(
        f"burst of {n:,} records over {args.keys:,} keys, {args.partitions} partitions, "
        f"produced before flowd started; {os.cpu_count()} CPUs"
    )
    print(f"  produced with aiokafka send()             : {n / produce_s:10,.0f} records/s")
    done = "all applied" if applied >= n else f"time bound reached: {applied:,} of {n:,} applied"
    print(f"  flowd run --kafka -> durable transitions  : {applied / seconds:10,.0f} records/s"
          f"  ({done} in {seconds:,.0f} s)")  # fmt: skip
    print(f"  flowd peak RSS (VmHWM)                    : {peak / 1024:10,.1f} MB")
    if writer_peak:
        print(f"  its store writer process's peak RSS       : {writer_peak / 1024:10,.1f} MB")
    print(f"  pauses told in flowd's output             : {pauses:10,}")


async def produce_paced(
    producer: AIOKafkaProducer,
    topic: str,
    events: list[dict[str, Any]],
    rate: float,
    partitions: int,
) -> None:
    """Produce `events` (keyed by id) at `rate` records/s, in ticks of 10 ms.

    Each tick's records go as one batch per partition (the default
    partitioner's choice, as `send` would make it), stamped when appended.
    Keys, values and partitions are made before the first tick: the load
    generator shares the CPUs with flowd, and a `send` per record took a fifth
    of a core at 16,000 records/s; encoding and partitioning in each tick,
    another 15% of one."""
    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    prepared = []
    for e in events:
        key = e["id"].encode()
        prepared.append((partitioner(key, every, every), key, json.dumps(e).encode()))
    per_tick = max(1, int(rate * 0.01))
    sent: list[asyncio.Future[Any]] = []
    started = time.perf_counter()
    for i in range(0, len(prepared), per_tick):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        now_ms = int(time.time() * 1000)
        batches: dict[int, Any] = {}
        for partition, key, value in prepared[i : i + per_tick]:
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=now_ms) is None:  # full
                sent.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=now_ms)
        for partition, batch in batches.items():
            sent.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*sent)


@dataclass(frozen=True, slots=True)
class Latencies:
    """Per record, ms from its produce timestamp to its transition: `committed`
    (first seen in the journal from outside, `JournalWatch`), and `applied`
    (the step's `at_ms`, when flowd took the record up, before its commit)."""

    committed: list[float]
    applied: list[float]


async def latency_at(
    workdir: Path,
    bootstrap: str,
    *,
    keys: int,
    partitions: int,
    rate: float,
    seconds: float,
    writer: str = "process",
) -> Latencies:
    """Produce at `rate` records/s for `seconds` to a consuming flowd; its latencies."""
    topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, partitions)
    flow = workdir / "latency.flow.yaml"
    flow.write_text(textwrap.dedent(FLOW).replace("topic: pings", f"topic: {topic}"))
    db, log = workdir / "latency.db", workdir / "flowd-latency.out"
    proc = start_flowd(workdir, flow, db, bootstrap, log, writer)
    count = int(rate * seconds)
    events = make_events(count, keys)
    deadline = time.monotonic() + seconds * 4 + 60
    watch = JournalWatch(db)
    watch.start()
    try:
        await wait_for(
            lambda: "kafka: assigned" in log.read_text(), "assignment", deadline, proc, log
        )
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1)
        await producer.start()
        try:
            await produce_paced(producer, topic, events, rate, partitions)
        finally:
            await producer.stop()
        await wait_for(lambda: _journal_count(db) >= count, "transitions", deadline, proc, log)
    finally:
        committed = watch.stop()
        stop(proc)
    _journal_count_exact(db)
    return Latencies(committed=committed, applied=_applied_latencies(db))


def seconds_to_step(events: list[dict[str, Any]]) -> float:
    """Seconds the flow's `step()` takes over `events` in a loop, with no store:
    how fast the machine runs flowd's Python on one CPU at the time."""
    program = Program.from_ir(compile_flow())
    started = time.perf_counter()
    collections.deque(stepped(program, events), maxlen=0)
    return time.perf_counter() - started


async def run(args: argparse.Namespace, workdir: Path, bootstrap: str) -> None:
    events = make_events(args.events, args.keys)
    n = len(events)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, args.partitions)
    produce_s = await produce_all(bootstrap, topic, events)
    raw_s = await raw_consume(bootstrap, topic, args.partitions, n)
    writer = args.store_writer
    kafka_s = await through_kafka(workdir, bootstrap, topic, n, args.max_seconds, writer)
    http = await through_http(
        workdir,
        events,
        batch=20,
        concurrency=16,
        max_seconds=args.max_seconds,
        store_writer=writer,
    )
    raw_rate, kafka_rate, http_rate = n / raw_s, n / kafka_s, n / http.seconds
    step_s = seconds_to_step(events)
    latencies = await latency_at(
        workdir,
        bootstrap,
        keys=args.keys,
        partitions=args.partitions,
        rate=kafka_rate / 2,
        seconds=args.latency_seconds,
        writer=writer,
    )
    print(
        f"{n:,} records over {args.keys:,} keys, {args.partitions} partitions; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        "(broker, clients and flowd share them)"
    )
    print(f"  produced with aiokafka send()                 : {n / produce_s:10,.0f} records/s")
    print(f"  (a) aiokafka consumer alone, json.loads       : {raw_rate:10,.0f} records/s")
    print(f"  (b) flowd run --kafka -> durable transitions  : {kafka_rate:10,.0f} records/s")
    print(f"  (c) flowd, POST /events -> durable transitions: {http_rate:10,.0f} records/s")
    print(f"  step() in a loop, no store (Python's speed)   : {n / step_s:10,.0f} records/s")
    print(f"  (b) / (a) : {kafka_rate / raw_rate:6.1%}  (target >= 10%)")
    print(f"  (b) / (c) : {kafka_rate / http_rate:6.2f}x  (target >= 1x)")
    print(
        f"  at {kafka_rate / 2:,.0f} records/s (half of (b)), {len(latencies.committed):,} records:"
    )
    committed = _quantiles(latencies.committed)
    print(f"    produce -> committed transition: {committed}  (target p99 <= 50 ms)")
    print(f"    produce -> applied (step at_ms) : {_quantiles(latencies.applied)}")


def _quantiles(ms: list[float]) -> str:
    return (
        f"p50 {statistics.median(ms):6.1f} ms   p90 {percentile(ms, 0.9):6.1f} ms"
        f"   p99 {percentile(ms, 0.99):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=300, help="bound on each phase")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument(
        "--burst",
        type=int,
        nargs="?",
        const=1_000_000,
        help="produce N records first (1,000,000 if N is left out), then measure "
        "flowd's peak RSS and rate over them (only this phase)",
    )
    parser.add_argument(
        "--store-writer",
        choices=get_args(Writer),
        default="process",
        help="flowd's --store-writer in every phase (default: flowd's own default, process)",
    )
    args = parser.parse_args()
    phase = run if args.burst is None else burst
    with tempfile.TemporaryDirectory(prefix="flowyard-bench-kafka-") as tmp:
        workdir = Path(tmp)
        if args.bootstrap:
            asyncio.run(phase(args, workdir, args.bootstrap))
            return
        broker = Broker.create(workdir / "broker")
        broker.start()
        try:
            asyncio.run(phase(args, workdir, broker.bootstrap))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
