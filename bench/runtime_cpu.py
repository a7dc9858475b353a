"""Where flowd's CPU goes per event: the runtime in-process, without HTTP.

`bench/embedded.py` measures the whole path; this one takes it apart, on the
same flow and events, in one process, all at synchronous=FULL:

(1) ingest only: `Runtime.ingest_events` (routing, schema checks, inbox
    rows, group commit), with stepping switched off;
(2) the full runtime with every input passing through the inbox
    (`step_on_arrival=False`): ingest, then a scheduled turn per key;
(3) the full runtime as `flowd run` runs it: input for idle keys stepped on
    arrival, its step committed in the ingest transaction;
(4) a diagnostic bound, not a result: (3) with the store's ingest replaced by
    a wait of the same length as a transaction (5 ms) and nothing written, so
    no writer thread shares the GIL with the event loop. The gap between (3)
    and (4) is what the writer thread costs the loop, beyond its latency.
    Input that (3) would queue in the inbox is dropped here; at the default
    sizes every input is stepped on arrival (the report gives the share).

Each reports events/s, CPU µs per event (process time over wall time shows
whether it is CPU-bound) and how busy the event loop's thread was, beside
`step()` in a loop with no persistence. The
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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowyard.interpreter.program import Program
from flowyard.interpreter.runtime import IncomingRecord, Runtime
from flowyard.interpreter.store import InboxItem, IngestResult, SQLiteStore
from flowyard.interpreter.tuning import tune_for_serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
import embedded  # the same flow, events and step loop


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    seconds: float
    cpu_seconds: float
    loop_cpu_seconds: float
    """CPU time of the event loop's thread alone."""
    steps: int


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
        loop_cpu_started = time.thread_time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        while stepping and runtime.steps < len(events):
            await asyncio.sleep(0.005)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        loop_cpu = time.thread_time() - loop_cpu_started
        steps = runtime.steps
        await runtime.drain_and_stop()
    return Phase(name, seconds, cpu, loop_cpu, steps)


def no_stepping(runtime: Runtime, store: SQLiteStore) -> None:
    # Keys are never woken: their inputs stay in the inbox.
    runtime._scheduler.notify = lambda key: None  # type: ignore[method-assign]


def as_is(runtime: Runtime, store: SQLiteStore) -> None:
    return None


WAIT_INSTEAD_OF_WRITE_S = 0.005
"""About one group-commit transaction of this benchmark (see `flowd run`'s writer)."""


def writes_as_waits(runtime: Runtime, store: SQLiteStore) -> None:
    """(4): every ingest answers after a wait, as if its steps were stored; nothing is."""

    async def waiting_ingest(
        items: Sequence[InboxItem], *args: Any, applied: Sequence[Any] = (), **kwargs: Any
    ) -> IngestResult:
        await asyncio.sleep(WAIT_INSTEAD_OF_WRITE_S)
        return IngestResult(
            inbox_ids=tuple(None for _ in items), applied=tuple(a is not None for a in applied)
        )

    store.ingest = waiting_ingest  # type: ignore[method-assign]


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
        ("(4) = (3), writes replaced by 5 ms waits", writes_as_waits, False, True),
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
            f" event loop thread busy {phase.loop_cpu_seconds / phase.seconds:4.0%},"
            f" {loop_seconds / phase.seconds:5.1%} of the loop, {phase.steps / n:4.0%} stepped)"
        )


if __name__ == "__main__":
    main()
