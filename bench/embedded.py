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

With --live-output, the HTTP phase runs in rounds (--rounds, default 3) of
three outputs, each round in another order: --quiet, flowd's default live
output (a line per transition) into a file (as under systemd, a container or
CI), and into a pseudo-terminal drained by a reader (a person watching). Each
output's median rate is reported as a share of --quiet's, beside the CPU
flowd used per event (steadier than rates on a shared machine).
Target: both at least 80% of --quiet.

Latencies: p50/p99 of a request's acknowledgement (its events durable: their
transitions journaled, or their inbox rows stored) and of an event's
receipt-to-transition time (from the journal). Also reported: how many events
were stepped on arrival rather than passing through the inbox.
Target: the HTTP rate at least 25% of (a).

Run: python bench/embedded.py [--events 20000] [--keys 2000] [--batch 20] [--concurrency 16]
                              [--live-output [--rounds 3]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import aiohttp
from flowyard.compiler.api import compile_text
from flowyard.interpreter.core import step
from flowyard.interpreter.model import EventInput, Input, Instance
from flowyard.interpreter.program import Program
from flowyard.interpreter.runtime.commits import instance_row
from flowyard.interpreter.store.sqlite import Writer
from flowyard.interpreter.store.sqlite_schema import migrate
from flowyard.interpreter.store.sqlite_snapshots import snapshot_text

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
    cpu_s: float | None = None
    """CPU time flowd used (user + system) while the events went through
    (Linux only): steadier than a rate on a shared machine."""


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
    """Journal entries in `db`, cheap enough to poll every 10 ms while flowd
    runs: the journal of a benchmark's fresh store is only ever appended to, so
    its rowids run 1..N and the largest is the count (COUNT(*) walks an index
    of them all: 5 ms of CPU at 200,000 entries, taken from flowd on a small
    machine). `_journal_count_exact` checks that at the end. The connection is
    kept: opening one took 210 µs of CPU against 5 µs for the query alone."""
    # fetchall: the statement runs to its end, so no read stays open to hold
    # back flowd's checkpoints.
    ((newest,),) = _reader(db).execute("SELECT coalesce(max(rowid), 0) FROM journal").fetchall()
    return int(newest)


_READERS: dict[Path, tuple[int, sqlite3.Connection]] = {}
"""Per database, the inode it had and a read-only connection to it."""


def _reader(db: Path) -> sqlite3.Connection:
    """A read-only connection to `db`, kept while the file is the same one."""
    inode = db.stat().st_ino
    kept = _READERS.get(db)
    if kept is not None and kept[0] == inode:
        return kept[1]
    if kept is not None:
        kept[1].close()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
    _READERS[db] = (inode, conn)
    return conn


def _journal_count_exact(db: Path) -> int:
    """COUNT(*) of the journal; raises if `_journal_count` told otherwise."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        counted = int(conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0])
    if counted != _journal_count(db):
        raise SystemExit(f"the journal's rowids are not 1..{counted}: the count polled was wrong")
    return counted


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


OUTPUTS = ("quiet", "file", "pty")
"""flowd's output in the HTTP phase: `--quiet`, or the live lines into a file or a terminal."""


class TerminalReader:
    """A pseudo-terminal for flowd's stdout, read (and thrown away) as a terminal
    emulator would, so flowd never blocks on a full terminal buffer."""

    def __init__(self) -> None:
        self.leader, self.follower = pty.openpty()
        self.bytes = 0
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:  # the terminal's other end is closed
                return
            if not chunk:
                return
            self.bytes += len(chunk)

    def close(self) -> None:
        self._thread.join(timeout=10)
        os.close(self.leader)


async def through_http(
    workdir: Path,
    events: list[dict[str, Any]],
    *,
    batch: int,
    concurrency: int,
    max_seconds: float,
    output: str = "quiet",
    store_writer: str = "process",
) -> HttpResult:
    flow_path = workdir / "bench.flow.yaml"
    flow_path.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    db = workdir / f"http-{output}.db"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow_path),
        "--store", str(db), "--http", f"127.0.0.1:{port}", "--synchronous", "FULL",
        "--store-writer", store_writer,
    ]  # fmt: skip
    terminal: TerminalReader | None = None
    env = dict(os.environ)
    if output == "quiet":
        command.append("--quiet")
        proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    elif output == "file":
        with open(workdir / "live.log", "w", encoding="utf-8") as log_file:
            proc = subprocess.Popen(command, cwd=workdir, stdout=log_file)
    else:
        terminal = TerminalReader()
        env.update(TERM="xterm-256color", COLUMNS="160")
        env.pop("NO_COLOR", None)
        proc = subprocess.Popen(command, cwd=workdir, stdout=terminal.follower, env=env)
        os.close(terminal.follower)
    try:
        await _wait_healthy(base, proc)
        deadline = time.monotonic() + max_seconds
        cpu_before = _cpu_seconds(proc.pid)
        started = time.perf_counter()
        acks = await _post_all(base, events, batch, concurrency, deadline)
        while _journal_count(db) < len(events):
            if time.monotonic() > deadline:
                raise SystemExit("time bound reached while waiting for transitions")
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        cpu_after = _cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if terminal is not None:
            terminal.close()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    _journal_count_exact(db)
    return HttpResult(seconds, len(acks), acks, _applied_latencies(db), _inbox_rows(db), cpu)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process `pid` so far (None where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- baselines


def stepped(program: Program, events: list[dict[str, Any]]) -> Iterator[tuple[str, Input, Any]]:
    """Each event's key, input and `step()` result, stepping the events in order
    with no persistence."""
    instances: dict[str, Instance | None] = {}
    for i, payload in enumerate(events):
        key = payload["id"]
        inp = EventInput("Ping", payload, {"topic": "pings"}, 1_767_225_600_000 + i)
        result = step(program, instances.get(key), inp, key=key)
        instances[key] = result.instance
        yield key, inp, result


def in_memory(program: Program, events: list[dict[str, Any]]) -> tuple[float, list[Any]]:
    """(b): step() in a loop with no persistence; also returns the rows (a) inserts."""
    rows: list[tuple[str, str, int, str, str, str]] = []
    started = time.perf_counter()
    for key, inp, result in stepped(program, events):
        rows.append(
            (
                key,
                json.dumps(inp.to_json()),
                result.instance.seq - 1,
                json.dumps({"trace": list(result.trace), "commands": []}),
                # As flowd stores it: in its compact form (`sqlite_snapshots`).
                snapshot_text(instance_row(result.instance, 0))[0],
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
    conn.execute("INSERT INTO ir_names (id, ir_hash) VALUES (1, ?)", (ir_hash,))
    newest: dict[str, int] = {}  # key -> its newest journal id, as flowd links them
    started = time.perf_counter()
    for start in range(0, len(rows), RAW_BATCH):
        conn.execute("BEGIN")
        for n, (key, inp, seq, trace, snapshot, state) in enumerate(
            rows[start : start + RAW_BATCH], start=start + 1
        ):
            conn.execute(
                "INSERT INTO journal (id, flow, key, seq, input, trace, at_ms, prev_id) "
                "VALUES (?, 'bench', ?, ?, ?, ?, 0, ?)",
                (n, key, seq, inp, trace, newest.get(key)),
            )
            newest[key] = n
            conn.execute(
                "INSERT OR REPLACE INTO instances (flow, key, ir, seq, state, status, "
                "snapshot, compact, updated_ms, journal_head) "
                "VALUES ('bench', ?, 1, ?, ?, 'active', ?, 1, 0, ?)",
                (key, seq + 1, state, snapshot, n),
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
    parser.add_argument(
        "--live-output",
        action="store_true",
        help="also run the HTTP phase with the default live output into a file and a terminal",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="with --live-output: rounds of the three outputs"
    )
    parser.add_argument(
        "--store-writer",
        choices=get_args(Writer),
        default="process",
        help="flowd's --store-writer (default: flowd's own default, process)",
    )
    args = parser.parse_args()
    ir = compile_flow()
    program = Program.from_ir(ir)
    events = make_events(args.events, args.keys)
    with tempfile.TemporaryDirectory(prefix="flowyard-bench-") as tmp:
        workdir = Path(tmp)
        memory_s, rows = in_memory(program, events)
        raw_before = raw_inserts(workdir, str(ir["hash"]), rows, "raw-before.db")
        # With live output, rounds of quiet, file and terminal, each round in a
        # different order, as the machine's speed drifts while they run.
        order: list[str] = ["quiet"]
        if args.live_output:
            order = [OUTPUTS[(r + i) % 3] for r in range(args.rounds) for i in range(3)]
        phases: dict[str, list[HttpResult]] = {}
        for output in order:
            result = asyncio.run(
                through_http(
                    workdir,
                    events,
                    batch=args.batch,
                    concurrency=args.concurrency,
                    max_seconds=args.max_seconds,
                    output=output,
                    store_writer=args.store_writer,
                )
            )
            phases.setdefault(output, []).append(result)
        http = phases["quiet"][0]
        # Before and after the HTTP phase: a shared machine's disk and CPUs drift.
        raw_after = raw_inserts(workdir, str(ir["hash"]), rows, "raw-after.db")
    n = len(events)
    raw_rates = (n / raw_before, n / raw_after)
    http_rate = statistics.median(n / r.seconds for r in phases["quiet"])
    raw_rate, memory_rate = sum(raw_rates) / 2, n / memory_s
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
    if args.live_output:
        _report_live_output(n, phases)


def _report_live_output(n: int, phases: dict[str, list[HttpResult]]) -> None:
    """Each output's median rate and CPU per event, the live ones beside --quiet's."""
    rates = {o: statistics.median(n / r.seconds for r in runs) for o, runs in phases.items()}
    cpu = {
        o: statistics.median(r.cpu_s / n * 1e6 for r in runs if r.cpu_s is not None)
        if all(r.cpu_s is not None for r in runs)
        else None
        for o, runs in phases.items()
    }
    rounds = len(phases["quiet"])
    print(f"  live output, median of {rounds} round(s) of each, rounds interleaved:")
    for output, label in (("quiet", "--quiet"), ("file", "into a file"), ("pty", "on a terminal")):
        line = f"    {label:<14}: {rates[output]:10,.0f} events/s"
        if cpu[output] is not None:
            line += f"  {cpu[output]:5.1f} us flowd CPU/event"
        if output != "quiet":
            share = rates[output] / rates["quiet"]
            line += f"  {share:6.1%} of --quiet  (target >= 80%)"
            if cpu[output] is not None and cpu["quiet"]:
                line += f"  CPU x{cpu[output] / cpu['quiet']:.2f}"
            if share < 0.8:
                line += "  below target"
        print(line)


if __name__ == "__main__":
    main()
