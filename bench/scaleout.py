"""Scale-out benchmark, phase one: one flowd process on PostgreSQL.

A `flowd run --store postgresql://...` subprocess receives N events over K keys
through `POST /events` on loopback from a concurrent client (several events
per request), as in `embedded.py`; the clock stops when the last transition is
journaled. Reported beside it, in the same run and on the same server:

(a) the raw rate of batched PostgreSQL writes of the same rows (every event's
    journal row by COPY and its instance snapshot by an `unnest` upsert, 256
    events per transaction: the store's group-commit bound) into the same
    schema, from one asyncpg connection; measured before and after the flowd
    phase and averaged, as the machine's speed drifts.

Durability is PostgreSQL's default: `synchronous_commit = on`, and the
throwaway cluster this starts keeps `fsync = on` (a server given with --dsn is
used as it is configured). Target: flowd at least 25% of (a).

Not measured yet (later phases, once flowd consumes Kafka in a consumer group):
two processes sharing the work, and the fail-over time.

Run: python bench/scaleout.py [--events 20000] [--keys 2000] [--batch 20]
     [--concurrency 16] [--dsn postgresql://user@host/db]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import asyncpg
from embedded import (
    FLOW,
    RAW_BATCH,
    _free_port,
    _post_all,
    _wait_healthy,
    compile_flow,
    in_memory,
    make_events,
    percentile,
)
from flowyard.interpreter.program import Program
from flowyard.interpreter.store.postgres_schema import migrate

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


async def _journal_count(conn: Any) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM journal"))


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
        while await _journal_count(watcher) < len(events):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=20, help="events per POST")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--max-seconds", type=float, default=300, help="bound on the flowd phase")
    parser.add_argument("--dsn", help="an existing PostgreSQL (default: a throwaway cluster)")
    args = parser.parse_args()
    ir = compile_flow()
    events = make_events(args.events, args.keys)
    _, rows = in_memory(Program.from_ir(ir), events)
    cluster: Cluster | None = None
    dsn = args.dsn
    if dsn is None:
        try:
            cluster = start(fsync=True)
        except PostgresUnavailableError as error:
            raise SystemExit(f"scaleout: {error}") from None
        dsn = cluster.dsn
    tag = f"bench_{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory(prefix="flowyard-bench-") as tmp:
            ir_hash = str(ir["hash"])
            raw_before = asyncio.run(raw_writes(dsn, f"{tag}_raw1", ir_hash, rows))
            seconds, acks, inbox_rows = asyncio.run(
                through_flowd(
                    Path(tmp),
                    dsn,
                    f"{tag}_flowd",
                    events,
                    batch=args.batch,
                    concurrency=args.concurrency,
                    max_seconds=args.max_seconds,
                )
            )
            raw_after = asyncio.run(raw_writes(dsn, f"{tag}_raw2", ir_hash, rows))
    finally:
        if cluster is not None:
            cluster.stop()
    n = len(events)
    raw_rates = (n / raw_before, n / raw_after)
    flowd_rate, raw_rate = n / seconds, sum(raw_rates) / 2
    print(
        f"{n} events over {args.keys} keys; {len(acks)} requests of {args.batch} events, "
        f"{args.concurrency} in flight; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} (client, flowd, PostgreSQL and baseline share them)"
    )
    print(f"  one flowd on PostgreSQL, POST /events -> durable transitions : {flowd_rate:9,.0f}/s")
    print(
        f"  (a) raw batched PostgreSQL writes, same rows (COPY + unnest) : {raw_rate:9,.0f}/s"
        f"  (mean of {raw_rates[0]:,.0f} before and {raw_rates[1]:,.0f} after)"
    )
    print(
        f"  stepped on arrival     {1 - inbox_rows / n:6.1%} of events"
        f"  (the others passed through the inbox: {inbox_rows:,} rows)"
    )
    print(
        f"  request ack latency      p50 {statistics.median(acks):7.1f} ms"
        f"   p99 {percentile(acks, 0.99):7.1f} ms"
    )
    ratio = flowd_rate / raw_rate
    print(f"  flowd / raw PostgreSQL writes : {ratio:6.1%}  (target >= 25%)")
    if ratio < 0.25:
        print("  below target")
    print("  two processes and fail-over: not measured yet (needs flowd's Kafka consumer)")


if __name__ == "__main__":
    main()
