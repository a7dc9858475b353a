"""Burst benchmark: N events that each call a slow effect, against the overload bounds.

A `flowd run` subprocess (SQLite store, no live output) takes N events over
HTTP, each for its own key, each starting a transition that calls a Python
effect sleeping `--effect-seconds`. Clients send batches with an
Idempotency-Key and, on 429, wait Retry-After and send the same batch again
(bounded in count and time). Reported: 429s seen, every event applied exactly
once (one journaled event per key, read from the store afterwards), the most
effect attempts seen running at once (`GET /stats`, polled) against
`--max-effects-in-flight`, the peak RSS of the flowd process (VmHWM), and how
long the burst took to ingest and to settle. Target for N=50,000 with a 1 s
effect: peak RSS under 300 MB.

Run: python bench/burst.py [--events 50000] [--effect-seconds 1]
       [--max-effects-in-flight 1000] [--max-backlog 10000] [--batch 100] [--concurrency 16]
       [--max-seconds 900]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FLOW = """
flow: burst
version: 1
key: id
events:
  Job:
    topic: jobs
    key: event.id
effects:
  work:
    python: burst_effects:work
    timeout: 60s
    retry: {attempts: 1}
initial: waiting
states:
  waiting:
    on:
      Job:
        do:
          - call: work
        goto: done
  done:
    final: true
"""

EFFECTS = """
import asyncio
import os

DELAY = float(os.environ.get("BURST_EFFECT_SECONDS", "1"))


async def work(args, ctx):
    await asyncio.sleep(DELAY)
    return {"ok": True}
"""


@dataclass
class Tally:
    requests: int = 0
    too_many: int = 0
    accepted: int = 0
    most_running: int = 0
    most_waiting: int = 0
    errors: list[str] = field(default_factory=list)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def send(
    session: aiohttp.ClientSession, base: str, batches: asyncio.Queue[int], args: Any, t: Tally
) -> None:
    deadline = time.monotonic() + args.max_seconds
    while True:
        try:
            first = batches.get_nowait()
        except asyncio.QueueEmpty:
            return
        events = [{"id": f"j-{n}"} for n in range(first, min(first + args.batch, args.events))]
        for _ in range(10_000):  # bounded: a batch is refused at most this often
            if time.monotonic() > deadline:
                t.errors.append("out of time")
                return
            t.requests += 1
            async with session.post(
                f"{base}/events/jobs", json=events, headers={"Idempotency-Key": f"b-{first}"}
            ) as response:
                if response.status == 429:
                    t.too_many += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                body = await response.json()
                if response.status != 202:
                    t.errors.append(f"{response.status}: {body}")
                else:
                    t.accepted += int(body["accepted"])
                break


async def watch(session: aiohttp.ClientSession, base: str, t: Tally, stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with session.get(f"{base}/stats") as response:
            stats = await response.json()
        t.most_running = max(t.most_running, int(stats["effects_running"]))
        t.most_waiting = max(t.most_waiting, int(stats["effects_waiting"]))
        await asyncio.sleep(0.2)


async def settled(session: aiohttp.ClientSession, base: str, n: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        async with session.get(f"{base}/stats") as response:
            stats = await response.json()
        done = sum(r["count"] for r in stats["instances"] if r["state"] == "done")
        if done >= n:
            return True
        await asyncio.sleep(0.5)
    return False


async def drive(base: str, args: Any, t: Tally) -> tuple[float, float, bool]:
    batches: asyncio.Queue[int] = asyncio.Queue()
    for first in range(0, args.events, args.batch):
        batches.put_nowait(first)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(session, base, t, stop))
        started = time.monotonic()
        await asyncio.gather(
            *(send(session, base, batches, args, t) for _ in range(args.concurrency))
        )
        ingested = time.monotonic() - started
        ok = await settled(session, base, args.events, started + args.max_seconds)
        stop.set()
        await watcher
        return ingested, time.monotonic() - started, ok


def applied_once(store: Path, n: int) -> tuple[int, int]:
    """(keys with exactly one journaled event, keys with more than one)."""
    with sqlite3.connect(store) as conn:
        rows = conn.execute(
            "SELECT key, COUNT(*) FROM journal WHERE json_extract(input, '$.kind') = 'event'"
            " GROUP BY key"
        ).fetchall()
    once = sum(1 for _, count in rows if count == 1)
    return once, sum(1 for _, count in rows if count > 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--effect-seconds", type=float, default=1.0)
    parser.add_argument("--max-effects-in-flight", type=int, default=1000)
    parser.add_argument("--max-backlog", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100, help="events per POST")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--max-seconds", type=float, default=900, help="bound on the whole run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="burst-") as folder:
        work = Path(folder)
        (work / "burst.flow.yaml").write_text(textwrap.dedent(FLOW), encoding="utf-8")
        (work / "burst_effects.py").write_text(EFFECTS, encoding="utf-8")
        store = work / "flowd.db"
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "flowyard.interpreter.cli", "run", "burst.flow.yaml"),
                *("--store", str(store), "--http", "127.0.0.1:0", "--quiet"),
                *("--synchronous", "NORMAL", "--color", "never"),
                *("--max-effects-in-flight", str(args.max_effects_in_flight)),
                *("--max-backlog", str(args.max_backlog)),
            ],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "BURST_EFFECT_SECONDS": str(args.effect_seconds)},
        )
        assert proc.stdout is not None
        base = ""
        for _ in range(100):
            line = proc.stdout.readline()
            if "HTTP on " in line:
                base = line.split("HTTP on ", 1)[1].split(";")[0].strip()
                break
        if not base:
            proc.kill()
            print("flowd did not start", file=sys.stderr)
            return 1
        tally = Tally()
        try:
            ingested, total, ok = asyncio.run(drive(base, args, tally))
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.stdout.close()
        once, more = applied_once(store, args.events)
    print(
        json.dumps(
            {
                "events": args.events,
                "effect_seconds": args.effect_seconds,
                "max_effects_in_flight": args.max_effects_in_flight,
                "max_backlog": args.max_backlog,
                "requests": tally.requests,
                "responses_429": tally.too_many,
                "accepted": tally.accepted,
                "applied_once": once,
                "applied_more_than_once": more,
                "most_effects_running": tally.most_running,
                "most_effects_waiting": tally.most_waiting,
                "peak_rss_mb": round(rss, 1),
                "ingest_seconds": round(ingested, 1),
                "settled_seconds": round(total, 1),
                "settled": ok,
                "errors": tally.errors[:5],
            },
            indent=2,
        )
    )
    fine = (
        ok and once == args.events and not more and tally.most_running <= args.max_effects_in_flight
    )
    return 0 if fine else 1


if __name__ == "__main__":
    sys.exit(main())
