"""The SQLite store's commits of steps alone, on one thread: what a transaction costs.

At half of its peak rate `flowd run --kafka` commits transactions of about a
hundred records, and its latency there is bound by the store writer
(docs/performance.md). This measures those commits with nothing else running:
bench/embedded.py's flow stepped in memory into the `StepCommit`s flowd makes,
written by the store's own `commit_turns` in transactions of --small and of
--large records (the writer's settings, synchronous=FULL), after --prefill steps
already stored. Consecutive records go to keys at random places, as the records
of a partition's batch do. Checkpoints are left out (run between the phases),
so the WAL's growth is what the commits wrote.

Reports, per transaction size: records/s, µs of wall time and of CPU per record,
and KB written to the WAL per record; then the small transactions' rate as a
share of the large ones' (how much of the large transactions' rate is left at
the size the latency phase runs at).

Run: python bench/store_writes.py [--keys 2000] [--records 20000] [--prefill 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from flowyard.interpreter.program import Program
from flowyard.interpreter.runtime.commits import step_commit
from flowyard.interpreter.store import StepCommit
from flowyard.interpreter.store.sqlite import WRITER_CACHE_KIB
from flowyard.interpreter.store.sqlite_schema import migrate
from flowyard.interpreter.store.sqlite_writes import commit_turns

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded import compile_flow, stepped  # the same flow, stepped the same way


def made_commits(count: int, keys: int) -> list[StepCommit]:
    """`count` steps' commits: rounds of one record per key, each round in
    another random order of the keys, so that a transaction's keys lie at
    random places in the table (not in the order the instances were made)."""
    rng = random.Random(7)
    events = []
    for n in range(-(-count // keys)):
        order = list(range(keys))
        rng.shuffle(order)
        events.extend({"id": f"k{k:05d}", "n": n} for k in order)
    events = events[:count]
    program = Program.from_ir(compile_flow())
    return [
        step_commit(result, inp, inbox_id=None, now_ms=inp.at_ms, program=program, secret=b"")
        for _, inp, result in stepped(program, events)
    ]


def open_writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    migrate(conn)
    return conn


def commit_in(conn: sqlite3.Connection, commits: Sequence[StepCommit], per: int) -> None:
    for start in range(0, len(commits), per):
        conn.execute("BEGIN IMMEDIATE")
        commit_turns(conn, [commits[start : start + per]])
        conn.execute("COMMIT")


def measure(conn: sqlite3.Connection, wal: Path, commits: Sequence[StepCommit], per: int) -> float:
    """Commit `commits` in transactions of `per`; prints a line, returns records/s."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    started, cpu = time.perf_counter(), time.thread_time()
    commit_in(conn, commits, per)
    seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu
    n = len(commits)
    print(
        f"  transactions of {per:>5,}: {n / seconds:10,.0f} records/s"
        f"  {seconds / n * 1e6:6.1f} us/record  {cpu / n * 1e6:6.1f} us CPU/record"
        f"  {wal.stat().st_size / n / 1024:5.2f} KB WAL/record"
    )
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--records", type=int, default=20_000, help="per transaction size")
    parser.add_argument("--prefill", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=2000)
    args = parser.parse_args()
    commits = made_commits(args.prefill + 2 * args.records, args.keys)
    prefill, small = commits[: args.prefill], commits[args.prefill : args.prefill + args.records]
    large = commits[args.prefill + args.records :]
    print(
        f"{args.records:,} records per size over {args.keys:,} keys, after {args.prefill:,} "
        f"stored; one thread, synchronous=FULL; load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="flowyard-bench-store-") as tmp:
        db = Path(tmp) / "store.db"
        conn = open_writer(db)
        commit_in(conn, prefill, args.large)
        wal = db.with_name(db.name + "-wal")
        small_rate = measure(conn, wal, small, args.small)
        large_rate = measure(conn, wal, large, args.large)
        conn.close()
    print(f"  {args.small:,} / {args.large:,} : {small_rate / large_rate * 100:5.1f}%")


if __name__ == "__main__":
    main()
