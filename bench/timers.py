"""Timer benchmark: how fast due timers fire, beside the event rate of the same flowd.

A `flowd run` subprocess (SQLite store, synchronous=FULL, no live output)
runs a flow whose `Start` event parks an instance until an absolute due time
(an `at` timer), when the timer moves it on. Measured in one run, on the same
flowd:

(1) the event rate: `Poke` events posted to parked instances (each applied to
    an existing instance, as a timer is), the embedded benchmark's load,
    measured before and after (2) and averaged, as the machine's speed drifts;
    and the rate of the `Start` events that create the instances and arm
    their timers;
(2) burst: N timers due within one second, fired at what rate (from the first
    due time to the last firing seen durable), and that rate over (1);
(3) lateness when timers fall due evenly at half the rate (2) measured:
    p50/p99/max of the firing step's time (its journaled `at_ms`) after the
    due time, and of when a reader polling the journal every 20 ms saw it;
(4) with `--parked N`, a second flowd on a fresh store: its RSS with N parked
    instances and N pending timers; then it is stopped until they are all
    overdue and started again: time until it answers, until all have fired,
    and its peak RSS meanwhile (the overdue timers must not load at once).

The client shares the machine's CPUs with flowd while it posts events, not
while timers fire: keep that in mind reading the ratio. Every wait is bounded.

Run: python bench/timers.py [--timers 50000] [--events 20000] [--keys 2000]
     [--lateness-seconds 4] [--parked 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import embedded  # its HTTP client and helpers

FLOW = """
flow: tbench
version: 1
description: Instances parked until a due time given by their Start event.
key: id
events:
  Start:
    topic: starts
    key: event.id
    schema:
      type: object
      required: [id, due]
      properties:
        id: {type: string}
        due: {type: string, format: date-time}
  Poke:
    topic: pokes
    key: event.id
    schema:
      type: object
      required: [id, n]
      properties:
        id: {type: string}
        n: {type: integer}
data:
  due: {type: string, default: ""}
  pokes: {type: integer, default: 0}
initial: idle
states:
  idle:
    on:
      Start:
        do:
          - set: {due: "${ event.due }"}
        goto: waiting
  waiting:
    at:
      - time: "${ timestamp(data.due) }"
        goto: expired
    on:
      Poke:
        do:
          - set: {pokes: "${ data.pokes + 1 }"}
  expired: {final: true}
"""

POLL_S = 0.02
DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Flowd:
    """A `flowd run` subprocess on one store, started and stopped by the benchmark."""

    workdir: Path
    db: Path
    batch: int
    concurrency: int
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> float:
        """Start flowd; seconds until it answers."""
        flow = self.workdir / "tbench.flow.yaml"
        flow.write_text(textwrap.dedent(FLOW), encoding="utf-8")
        self.port = embedded._free_port()
        command = [
            sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow),
            "--store", str(self.db), "--http", f"127.0.0.1:{self.port}", "--quiet",
            "--synchronous", "FULL",
        ]  # fmt: skip
        started = time.perf_counter()
        self.proc = subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.DEVNULL)
        await embedded._wait_healthy(self.base, self.proc)
        return time.perf_counter() - started

    def stop(self) -> None:
        """Drain and stop (SIGTERM), as an operator would."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def memory_mb(self) -> tuple[float, float]:
        """(RSS now, peak RSS) of the flowd process, in MB."""
        assert self.proc is not None
        fields: dict[str, float] = {}
        status = Path(f"/proc/{self.proc.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    async def post(self, topic: str, events: list[dict[str, Any]], deadline: float) -> float:
        """Post `events` and wait until each is journaled; seconds taken."""
        before = journal_rows(self.db)
        started = time.perf_counter()
        await embedded._post_all(
            self.base, events, self.batch, self.concurrency, deadline, topic=topic
        )
        while journal_rows(self.db) < before + len(events):
            if time.monotonic() > deadline:
                raise SystemExit("time bound reached while waiting for transitions")
            await asyncio.sleep(0.01)
        return time.perf_counter() - started


def journal_rows(db: Path) -> int:
    """Journal entries so far (rowids grow by one per entry and are never deleted)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        value = conn.execute("SELECT max(rowid) FROM journal").fetchone()[0]
    return 0 if value is None else int(value)


@dataclass
class TimerWatch:
    """Follows the journal for timer entries: key -> (step's at_ms, when seen durable)."""

    db: Path
    after_rowid: int = 0
    fired: dict[str, tuple[int, int]] = field(default_factory=dict)

    def poll(self) -> None:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT rowid, key, at_ms, json_extract(input, '$.kind') FROM journal "
                "WHERE rowid > ? ORDER BY rowid",
                (self.after_rowid,),
            ).fetchall()
        seen = now_ms()
        for rowid, key, at_ms, kind in rows:
            self.after_rowid = rowid
            if kind == "timer":
                self.fired[key] = (int(at_ms), seen)

    async def wait(self, keys: dict[str, int], deadline: float) -> None:
        """Poll until every key of `keys` has fired."""
        while True:
            self.poll()
            if all(key in self.fired for key in keys):
                return
            if time.monotonic() > deadline:
                missing = sum(1 for key in keys if key not in self.fired)
                raise SystemExit(f"time bound reached with {missing} timers not fired")
            await asyncio.sleep(POLL_S)


def starts(prefix: str, dues: list[int]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Start events for keys `prefix000000...`, one per due time; and each key's due time."""
    keys = {f"{prefix}{i:07d}": due for i, due in enumerate(dues)}
    return [{"id": key, "due": rfc3339(due)} for key, due in keys.items()], keys


def rfc3339(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def lead_ms(count: int, rate: float) -> int:
    """Time to leave for creating `count` instances at about `rate`/s before any falls due."""
    return int(3000 + 1500 * count / rate)


def spread(first_ms: int, count: int, per_second: float) -> list[int]:
    return [first_ms + int(i * 1000 / per_second) for i in range(count)]


@dataclass(frozen=True, slots=True)
class Lateness:
    step_ms: list[float]
    seen_ms: list[float]


def lateness(watch: TimerWatch, keys: dict[str, int]) -> Lateness:
    fired = [watch.fired[key] for key in keys]
    dues = list(keys.values())
    return Lateness(
        [float(at - due) for (at, _), due in zip(fired, dues, strict=True)],
        [float(seen - due) for (_, seen), due in zip(fired, dues, strict=True)],
    )


def describe(values: list[float]) -> str:
    p50, p99 = statistics.median(values), embedded.percentile(values, 0.99)
    return f"p50 {p50:6.0f} ms   p99 {p99:6.0f} ms   max {max(values):6.0f} ms"


async def main_phases(args: argparse.Namespace, workdir: Path) -> None:
    deadline = time.monotonic() + args.max_seconds
    flowd = Flowd(workdir, workdir / "timers.db", args.batch, args.concurrency)
    await flowd.start()
    try:
        # (1) the event rate: pokes to parked instances (not due for a day).
        far = now_ms() + DAY_MS
        created, _ = starts("e", [far] * args.keys)
        await flowd.post("starts", created, deadline)
        pokes = [{"id": f"e{i % args.keys:07d}", "n": i // args.keys} for i in range(args.events)]
        event_rates = [args.events / await flowd.post("pokes", pokes, deadline)]

        # (2) a burst: N timers due within one second.
        watch = TimerWatch(flowd.db, journal_rows(flowd.db))
        first = now_ms() + lead_ms(args.timers, event_rates[0] / 3)
        created, burst = starts("b", spread(first, args.timers, args.timers))
        start_rate = args.timers / await flowd.post("starts", created, deadline)
        if now_ms() >= first:
            raise SystemExit("creating the instances outlasted the lead: raise lead_ms")
        await watch.wait(burst, deadline)
        last_seen = max(watch.fired[key][1] for key in burst)
        last_step = max(watch.fired[key][0] for key in burst)
        fire_rate = args.timers / max((last_seen - first) / 1000, 1e-3)
        # Before and after the burst: a shared machine's speed drifts.
        event_rates.append(args.events / await flowd.post("pokes", pokes, deadline))
        event_rate = sum(event_rates) / 2

        # (3) lateness at half the rate just measured.
        per_second = fire_rate / 2
        count = max(1, int(per_second * args.lateness_seconds))
        first_late = now_ms() + lead_ms(count, start_rate)
        created, late = starts("l", spread(first_late, count, per_second))
        await flowd.post("starts", created, deadline)
        if now_ms() >= first_late:
            raise SystemExit("creating the instances outlasted the lead: raise lead_ms")
        await watch.wait(late, deadline)
        measured = lateness(watch, late)
        rss, _ = flowd.memory_mb()
    finally:
        flowd.stop()

    print(
        f"{args.timers} timers due within 1 s; events: {args.events} pokes over {args.keys} "
        f"parked instances, {args.batch} per request, {args.concurrency} in flight; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  (1) event rate: pokes to parked instances : {event_rate:9,.0f} events/s"
        f"  (mean of {event_rates[0]:,.0f} before and {event_rates[1]:,.0f} after (2))"
    )
    print(f"      Start events (create, arm a timer)    : {start_rate:9,.0f} events/s")
    print(
        f"  (2) timers due within one second          : {fire_rate:9,.0f} fired/s"
        f"  (all durable {(last_seen - first) / 1000:.2f} s after the first due time,"
        f" stepped by {(last_step - first) / 1000:.2f} s)"
    )
    print(f"      fired / event rate : {fire_rate / event_rate:6.1%}  (target >= 80%)")
    print(
        f"  (3) lateness, {count} timers due over {args.lateness_seconds:g} s "
        f"at {per_second:,.0f}/s (half of (2)):"
    )
    print(f"      stepped after due   {describe(measured.step_ms)}")
    print(f"      seen durable        {describe(measured.seen_ms)}  (polled every 20 ms)")
    print(
        f"      target p99 <= 100 ms: "
        f"{'met' if embedded.percentile(measured.step_ms, 0.99) <= 100 else 'not met'}"
        " (stepped)"
    )
    print(f"      flowd RSS at the end : {rss:7.1f} MB")
    if args.parked:
        await parked_phase(args, workdir, start_rate, deadline)


async def parked_phase(
    args: argparse.Namespace, workdir: Path, start_rate: float, deadline: float
) -> None:
    """(4): N parked instances with pending timers; then all overdue after downtime."""
    n = args.parked
    flowd = Flowd(workdir, workdir / "parked.db", args.batch, args.concurrency)
    await flowd.start()
    due = now_ms() + lead_ms(n, start_rate)
    try:
        created, keys = starts("p", spread(due, n, n))
        created_s = await flowd.post("starts", created, deadline)
        del created
        await asyncio.sleep(1)
        rss, peak = flowd.memory_mb()
    finally:
        flowd.stop()
    if now_ms() >= due:
        raise SystemExit("creating the parked instances outlasted the lead: raise lead_ms")
    watch = TimerWatch(flowd.db, journal_rows(flowd.db))
    while now_ms() < due + 1500:
        await asyncio.sleep(0.1)
    answered_s = await flowd.start()
    try:
        started = time.perf_counter()
        await watch.wait(keys, deadline)
        fired_s = time.perf_counter() - started + answered_s
        rss_after, peak_after = flowd.memory_mb()
    finally:
        flowd.stop()
    print(f"  (4) {n} parked instances with {n} pending timers (created at {n / created_s:,.0f}/s)")
    print(f"      flowd RSS {rss:7.1f} MB   peak {peak:7.1f} MB  (target < 300 MB)")
    print(
        f"      restarted with all {n} overdue: answering after {answered_s:.2f} s,"
        f" all fired after {fired_s:.2f} s ({n / fired_s:,.0f} fired/s)"
    )
    print(f"      flowd RSS then {rss_after:7.1f} MB   peak {peak_after:7.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timers", type=int, default=50_000, help="timers due within 1 s")
    parser.add_argument("--events", type=int, default=20_000, help="pokes for the event rate")
    parser.add_argument("--keys", type=int, default=2_000, help="instances the pokes go to")
    parser.add_argument("--lateness-seconds", type=float, default=4.0)
    parser.add_argument("--parked", type=int, default=0, help="instances for (4); 0 skips it")
    parser.add_argument("--batch", type=int, default=20, help="events per POST")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--max-seconds", type=float, default=600, help="bound on the whole run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowyard-timers-") as tmp:
        asyncio.run(main_phases(args, Path(tmp)))


if __name__ == "__main__":
    main()
