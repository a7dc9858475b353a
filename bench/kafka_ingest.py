"""The Kafka ingest path in process: CPU per record, without a broker.

`bench/kafka.py` measures `flowd run --kafka` whole, on a machine whose speed
drifts; this one runs the consumer's storing of fetched batches
(`KafkaIngress._ingest_partition`, the same call `flowd run --kafka` makes)
on made-up `ConsumerRecord`s: bench/embedded.py's flow and events, keyed by
id over 6 partitions, each partition's batches one after the other and the
partitions at once, metrics and the metered store as `flowd run` wires them.
Two phases:

(1) the SQLite store (synchronous=FULL): records/s, and the CPU of the
    event loop's thread and of the whole process per record;
(2) the store's writes replaced by a stub that answers at once: the event
    loop's CPU per record alone, with no writer thread sharing the GIL
    (the best of --repeat passes over the records).

For a count that does not drift with the machine, run it under valgrind
with two sizes and take the difference: (2)'s instructions per record, e.g.

    valgrind --tool=cachegrind --cache-sim=no python bench/kafka_ingest.py \\
        --records 3000 --phase stub --repeat 1     # and --records 9000

Run: python bench/kafka_ingest.py [--records 60000] [--batch 2000] [--phase both|sqlite|stub]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from aiokafka.structs import ConsumerRecord, TopicPartition
from flowyard.interpreter.kafka.consumer import KafkaIngress
from flowyard.interpreter.kafka.settings import KafkaSettings
from flowyard.interpreter.metrics import Metrics
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.store import IngestResult, SQLiteStore, StepCommit
from flowyard.interpreter.store.sqlite import Writer
from flowyard.interpreter.tuning import tune_for_serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
import embedded  # the same flow and events
from embedded import _cpu_seconds

PARTITIONS = 6
TOPIC = "pings"


def consumed_records(count: int, keys: int) -> dict[int, list[ConsumerRecord[bytes, bytes]]]:
    """bench/embedded.py's events as Kafka records, each key on one partition."""
    partitions: dict[int, list[ConsumerRecord[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    at_ms = int(time.time() * 1000)
    for event in embedded.make_events(count, keys):
        key = event["id"].encode()
        value = json.dumps(event).encode()
        p = zlib.crc32(key) % PARTITIONS
        offset = len(partitions[p])
        partitions[p].append(
            ConsumerRecord(TOPIC, p, offset, at_ms, 0, key, value, None, len(key), len(value), ())
        )
    return partitions


async def stubbed_ingest(
    items: Sequence[Any],
    sources: Sequence[Any] = (),
    *,
    applied: Sequence[StepCommit | None] = (),
    **_: Any,
) -> IngestResult:
    """`Store.ingest` answering at once: every offered step applied, nothing written."""
    return IngestResult(
        inbox_ids=tuple(None for _ in items), applied=tuple(a is not None for a in applied)
    )


async def phase(
    records: dict[int, list[ConsumerRecord[bytes, bytes]]],
    *,
    batch: int,
    stub: bool,
    repeat: int,
    writer: Writer = "thread",
) -> tuple[float, float, float, float, int]:
    """Seconds, event-loop CPU seconds, process CPU seconds and writer process
    CPU seconds (0 for the writer thread) of the best pass; steps."""
    count = sum(len(r) for r in records.values())
    with tempfile.TemporaryDirectory(prefix="flowyard-kafka-ingest-") as tmp:
        store = await SQLiteStore.open(Path(tmp) / "ingest.db", synchronous="FULL", writer=writer)
        child = getattr(store._committer, "pid", None)
        if stub:
            store.ingest = stubbed_ingest  # type: ignore[method-assign,assignment]
        metrics = Metrics()
        runtime = Runtime(
            metrics.wrap_store(store),
            [embedded.compile_flow()],
            on_transition=metrics.on_transition,
        )
        metrics.watch(runtime)
        await runtime.start()
        tune_for_serving()  # as `flowd run` does once started
        ingress = KafkaIngress(runtime, KafkaSettings(bootstrap="unused"))

        async def partition(p: int) -> None:
            own, tp = records[p], TopicPartition(TOPIC, p)
            for start in range(0, len(own), batch):
                await ingress._ingest_partition(tp, own[start : start + batch])

        best: tuple[float, float, float, float] | None = None
        for _ in range(repeat):
            steps = runtime.steps
            started, loop_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()
            child_cpu = _cpu_seconds(child) if child else None
            await asyncio.gather(*(partition(p) for p in range(PARTITIONS)))
            while runtime.steps < steps + count:
                await asyncio.sleep(0.001)
            child_after = _cpu_seconds(child) if child else None
            taken = (
                time.perf_counter() - started,
                time.thread_time() - loop_cpu,
                time.process_time() - cpu,
                child_after - child_cpu if child_after is not None and child_cpu is not None else 0,
            )
            best = taken if best is None or taken[1] < best[1] else best
        await runtime.drain_and_stop()
    assert best is not None
    return (*best, runtime.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=KafkaSettings(bootstrap="").max_batch)
    parser.add_argument("--phase", choices=["both", "sqlite", "stub"], default="both")
    parser.add_argument(
        "--writer", choices=get_args(Writer), default="thread", help="where SQLite's writes run"
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes of (2); the best is told")
    args = parser.parse_args()
    # Every partition's batch starts at once here (flowd's consumer takes at most
    # one fetch of records at a time), and with writes stubbed nothing waits:
    # the loop-lag watch would warn of what is this benchmark's doing.
    logging.getLogger("flowyard.runtime.looplag").setLevel(logging.ERROR)
    records = consumed_records(args.records, args.keys)
    n = args.records
    print(
        f"{n:,} records over {args.keys:,} keys, {PARTITIONS} partitions, batches of "
        f"{args.batch:,}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    if args.phase in ("both", "sqlite"):
        seconds, loop_cpu, cpu, writer_cpu, _ = asyncio.run(
            phase(records, batch=args.batch, stub=False, repeat=1, writer=args.writer)
        )
        print(
            f"  (1) SQLite store      : {n / seconds:10,.0f} records/s"
            f"  {loop_cpu / n * 1e6:6.1f} us event-loop CPU/record"
            f"  {cpu / n * 1e6:6.1f} us process CPU/record"
            + (f"  {writer_cpu / n * 1e6:6.1f} us writer process CPU/record" if writer_cpu else "")
        )
    if args.phase in ("both", "stub"):
        _, loop_cpu, _, _, _ = asyncio.run(
            phase(records, batch=args.batch, stub=True, repeat=args.repeat)
        )
        print(f"  (2) writes stubbed    : {loop_cpu / n * 1e6:6.1f} us event-loop CPU/record")


if __name__ == "__main__":
    main()
