"""Embedded benchmark: events/s through `POST /events` to durable transitions.

A `flowd run` subprocess (SQLite store, synchronous=FULL, no live output)
receives N events over K keys on loopback from a concurrent client (several
events per request), and the clock stops when the last transition is
journaled. Reported beside, in the same run:

(a) the raw rate of plain batched SQLite inserts of the same rows (the
    journal row and the instance snapshot of every event: what flowd writes
    for an event stepped on arrival), into the same schema, synchronous=FULL,
    in WAL mode; measured before and after the HTTP phase and averaged, as
    the machine's speed drifts;
(b) the same state machine with no persistence at all: `step()` in a loop.

Latencies: p50/p99 of a request's acknowledgement (its events durable: their
transitions journaled, or their inbox rows stored) and of an event's
receipt-to-transition time (from the journal). Also reported: how many events
were stepped on arrival rather than passing through the inbox.
Target: the HTTP rate at least 25% of (a).

Run: python bench/embedded.py [--events 20000] [--keys 2000] [--batch 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from flowyard.compiler.api import compile_text
from flowyard.interpreter.core import step
from flowyard.interpreter.model import EventInput, Instance
from flowyard.interpreter.program import Program
from flowyard.interpreter.store.sqlite_schema import migrate

FLOW = """
flow: bench
version: 1
description: Ping-pong between two states, counting.
key: id
events:
  Ping:
    topic: pings
    key: event.id
    schema:
      type: object
      required: [id, n]
      properties:
        id: {type: string}
        n: {type: integer}
data:
  count: {type: integer, default: 0}
  last: {type: integer, default: -1}
initial: ping
states:
  ping:
    on:
      Ping:
        do:
          - set: {count: "${ data.count + 1 }", last: "${ event.n }"}
        goto: pong
  pong:
    on:
      Ping:
        do:
          - set: {count: "${ data.count + 1 }", last: "${ event.n }"}
        goto: ping
"""

RAW_BATCH = 256
"""Rows per transaction for (a): the store's own group-commit bound."""


@dataclass(frozen=True, slots=True)
class HttpResult:
    seconds: float
    requests: int
    ack_ms: list[float]
    applied_ms: list[float]
    inbox_rows: int
    """Inbox rows ever written: events that were not stepped on arrival."""


def compile_flow() -> dict[str, Any]:
    ir, diagnostics = compile_text(textwrap.dedent(FLOW), file="bench.flow.yaml", surface="yaml")
    if ir is None:
        raise SystemExit("\n".join(str(d) for d in diagnostics))
    return ir


def make_events(count: int, keys: int) -> list[dict[str, Any]]:
    """Event i goes to key i % keys: each key sees its events in order."""
    return [{"id": f"k{i % keys:05d}", "n": i // keys} for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- through HTTP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _journal_count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0])


async def _wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit("flowd exited before it was healthy")
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("flowd did not become healthy")


async def _post_all(
    base: str,
    events: list[dict[str, Any]],
    batch: int,
    concurrency: int,
    deadline: float,
    *,
    topic: str = "pings",
) -> list[float]:
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for chunk in batches:
        queue.put_nowait(chunk)
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            if time.monotonic() > deadline:
                raise SystemExit("time bound reached while posting")
            chunk = queue.get_nowait()
            body = json.dumps(chunk).encode()
            started = time.perf_counter()
            async with session.post(
                f"{base}/events/{topic}", data=body, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()
                if response.status != 202:
                    raise SystemExit(f"POST /events answered {response.status}")
            latencies.append((time.perf_counter() - started) * 1000)

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies


def _inbox_rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone()
    return 0 if row is None else int(row[0])


def _applied_latencies(db: Path) -> list[float]:
    """Receipt (the event's meta timestamp, set on arrival) to the step that applied it."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT input FROM journal").fetchall()
    out = []
    for (text,) in rows:
        inp = json.loads(text)
        received = (inp.get("meta") or {}).get("timestamp")
        if received is not None:
            out.append(float(inp["at_ms"] - received))
    return out


async def through_http(
    workdir: Path,
    events: list[dict[str, Any]],
    *,
    batch: int,
    concurrency: int,
    max_seconds: float,
) -> HttpResult:
    flow_path = workdir / "bench.flow.yaml"
    flow_path.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    db = workdir / "http.db"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow_path),
        "--store", str(db), "--http", f"127.0.0.1:{port}", "--quiet", "--synchronous", "FULL",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    try:
        await _wait_healthy(base, proc)
        deadline = time.monotonic() + max_seconds
        started = time.perf_counter()
        acks = await _post_all(base, events, batch, concurrency, deadline)
        while _journal_count(db) < len(events):
            if time.monotonic() > deadline:
                raise SystemExit("time bound reached while waiting for transitions")
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return HttpResult(seconds, len(acks), acks, _applied_latencies(db), _inbox_rows(db))


# ---------------------------------------------------------------- baselines


def in_memory(program: Program, events: list[dict[str, Any]]) -> tuple[float, list[Any]]:
    """(b): step() in a loop with no persistence; also returns the rows (a) inserts."""
    instances: dict[str, Instance | None] = {}
    rows: list[tuple[str, str, int, str, str, str]] = []
    started = time.perf_counter()
    for i, payload in enumerate(events):
        key = payload["id"]
        inp = EventInput("Ping", payload, {"topic": "pings"}, 1_767_225_600_000 + i)
        result = step(program, instances.get(key), inp, key=key)
        instances[key] = result.instance
        rows.append(
            (
                key,
                json.dumps(inp.to_json()),
                result.instance.seq - 1,
                json.dumps({"trace": list(result.trace), "commands": []}),
                json.dumps(result.instance.to_json()),
                result.instance.state,
            )
        )
    return time.perf_counter() - started, rows


def raw_inserts(workdir: Path, ir_hash: str, rows: list[Any], name: str = "raw.db") -> float:
    """(a): the same rows, inserted in batches into the store's schema, synchronous=FULL."""
    db = workdir / name
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    migrate(conn)
    started = time.perf_counter()
    for start in range(0, len(rows), RAW_BATCH):
        conn.execute("BEGIN")
        for key, inp, seq, trace, snapshot, state in rows[start : start + RAW_BATCH]:
            conn.execute(
                "INSERT INTO journal (flow, key, seq, input, trace, at_ms) "
                "VALUES ('bench', ?, ?, ?, ?, 0)",
                (key, seq, inp, trace),
            )
            conn.execute(
                "INSERT OR REPLACE INTO instances "
                "(flow, key, ir_hash, seq, state, status, snapshot, updated_ms) "
                "VALUES ('bench', ?, ?, ?, ?, 'active', ?, 0)",
                (key, ir_hash, seq + 1, state, snapshot),
            )
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=20, help="events per POST")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--max-seconds", type=float, default=300, help="bound on the HTTP phase")
    args = parser.parse_args()
    ir = compile_flow()
    program = Program.from_ir(ir)
    events = make_events(args.events, args.keys)
    with tempfile.TemporaryDirectory(prefix="flowyard-bench-") as tmp:
        workdir = Path(tmp)
        memory_s, rows = in_memory(program, events)
        raw_before = raw_inserts(workdir, str(ir["hash"]), rows, "raw-before.db")
        http = asyncio.run(
            through_http(
                workdir,
                events,
                batch=args.batch,
                concurrency=args.concurrency,
                max_seconds=args.max_seconds,
            )
        )
        # Before and after the HTTP phase: a shared machine's disk and CPUs drift.
        raw_after = raw_inserts(workdir, str(ir["hash"]), rows, "raw-after.db")
    n = len(events)
    raw_rates = (n / raw_before, n / raw_after)
    http_rate, raw_rate, memory_rate = n / http.seconds, sum(raw_rates) / 2, n / memory_s
    print(
        f"{n} events over {args.keys} keys; {http.requests} requests of {args.batch} events, "
        f"{args.concurrency} in flight; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (client, server and baselines share them)"
    )
    print(f"  flowd, POST /events -> durable transitions : {http_rate:10,.0f} events/s")
    print(
        f"  (a) raw batched SQLite inserts, same rows   : {raw_rate:10,.0f} events/s"
        f"  (mean of {raw_rates[0]:,.0f} before and {raw_rates[1]:,.0f} after)"
    )
    print(f"  (b) step() in a loop, no persistence        : {memory_rate:10,.0f} events/s")
    print(
        f"  stepped on arrival     {1 - http.inbox_rows / n:6.1%} of events"
        f"  (the others passed through the inbox: {http.inbox_rows:,} rows)"
    )
    print(
        f"  request ack latency      p50 {statistics.median(http.ack_ms):7.1f} ms"
        f"   p99 {percentile(http.ack_ms, 0.99):7.1f} ms"
    )
    print(
        f"  receipt -> transition    p50 {statistics.median(http.applied_ms):7.1f} ms"
        f"   p99 {percentile(http.applied_ms, 0.99):7.1f} ms"
    )
    ratio = http_rate / raw_rate
    print(f"  flowd / raw inserts : {ratio:6.1%}  (target >= 25%)")
    print(f"  flowd / no persistence : {http_rate / memory_rate:6.1%}")
    if ratio < 0.25:
        print("  below target")


if __name__ == "__main__":
    main()
