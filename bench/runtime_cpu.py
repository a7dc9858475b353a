"""Where flowd's CPU goes per event: the runtime in-process, without HTTP.

`bench/embedded.py` measures the whole path; this one takes it apart, on the
same flow and events, in one process, all at synchronous=FULL:

(1) ingest only: `Runtime.ingest_events` (routing, schema checks, inbox
    rows, group commit), with stepping switched off;
(2) the full runtime with every input passing through the inbox
    (`step_on_arrival=False`): ingest, then a scheduled turn per key;
(3) the full runtime as `flowd run` runs it: input for idle keys stepped on
    arrival, its step committed in the ingest transaction.

Each reports events/s and CPU µs per event (process time over wall time shows
whether it is CPU-bound), beside `step()` in a loop with no persistence. The
garbage collector and the GIL's switch interval are set as `flowd run` sets
them (`tuning`). The rates are ratios against that loop in the same run; the
machine is shared.

Run: python bench/runtime_cpu.py [--events 20000] [--keys 2000] [--batch 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowyard.interpreter.program import Program
from flowyard.interpreter.runtime import IncomingRecord, Runtime
from flowyard.interpreter.store import SQLiteStore
from flowyard.interpreter.tuning import tune_for_serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
import embedded  # the same flow, events and step loop


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    seconds: float
    cpu_seconds: float


Prepare = Callable[[Runtime, SQLiteStore], None]


async def run_phase(
    name: str,
    ir: dict[str, Any],
    events: list[dict[str, Any]],
    prepare: Prepare,
    *,
    batch: int,
    concurrency: int,
    stepping: bool,
    on_arrival: bool,
) -> Phase:
    with tempfile.TemporaryDirectory(prefix="flowyard-cpu-") as tmp:
        store = await SQLiteStore.open(Path(tmp) / "cpu.db", synchronous="FULL")
        runtime = Runtime(store, [ir], step_on_arrival=on_arrival)
        await runtime.start()
        prepare(runtime, store)
        batches = [events[i : i + batch] for i in range(0, len(events), batch)]
        pending = list(reversed(batches))

        async def client() -> None:
            while pending:
                chunk = pending.pop()
                await runtime.ingest_events(
                    "pings", [IncomingRecord(value=e, timestamp_ms=0) for e in chunk]
                )

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        while stepping and runtime.steps < len(events):
            await asyncio.sleep(0.005)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await runtime.drain_and_stop()
    return Phase(name, seconds, cpu)


def no_stepping(runtime: Runtime, store: SQLiteStore) -> None:
    # Keys are never woken: their inputs stay in the inbox.
    runtime._scheduler.notify = lambda key: None  # type: ignore[method-assign]


def as_is(runtime: Runtime, store: SQLiteStore) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=20, help="records per ingest call")
    parser.add_argument("--concurrency", type=int, default=16, help="ingest calls in flight")
    args = parser.parse_args()
    ir = embedded.compile_flow()
    events = embedded.make_events(args.events, args.keys)
    loop_seconds, _ = embedded.in_memory(Program.from_ir(ir), events)
    tune_for_serving()  # as `flowd run` does once started
    n = len(events)
    plans: list[tuple[str, Prepare, bool, bool]] = [
        ("(1) ingest only", no_stepping, False, False),
        ("(2) durable steps, all through the inbox", as_is, True, False),
        ("(3) durable steps, stepped on arrival", as_is, True, True),
    ]

    def measure(name: str, prepare: Prepare, stepping: bool, on_arrival: bool) -> Awaitable[Phase]:
        return run_phase(
            name,
            ir,
            events,
            prepare,
            batch=args.batch,
            concurrency=args.concurrency,
            stepping=stepping,
            on_arrival=on_arrival,
        )

    phases = [asyncio.run(measure(*plan)) for plan in plans]  # type: ignore[arg-type]
    print(f"{n} events over {args.keys} keys, {args.batch} per ingest call, in process")
    print(f"  step() in a loop, no persistence         : {n / loop_seconds:10,.0f} events/s")
    for phase in phases:
        print(
            f"  {phase.name:<40} : {n / phase.seconds:10,.0f} events/s"
            f"  {phase.cpu_seconds / n * 1e6:6.0f} us CPU/event"
            f"  (CPU/wall {phase.cpu_seconds / phase.seconds:4.2f},"
            f" {loop_seconds / phase.seconds:5.1%} of the loop)"
        )


if __name__ == "__main__":
    main()
