"""Child process for test_crash.py: commits and ingests until killed.

Usage: python crash_writer.py WORKERS DB, or WORKERS DSN SCHEMA (PostgreSQL).
After each write is acknowledged it prints `commit <key> <seq>` or `ingest
<source>` on stdout, unbuffered, so the parent knows exactly what was
acknowledged when it sends SIGKILL.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys

from flowyard.interpreter.store import (
    InboxItem,
    InstanceRow,
    JournalEntry,
    OutboxMessage,
    PostgresStore,
    SQLiteStore,
    StepCommit,
    Store,
)


def ack(line: str) -> None:
    os.write(1, (line + "\n").encode())


async def commit_forever(store: Store, key: str) -> None:
    found = await store.load_instance("crash", key)
    seq = 0 if found is None else found.seq
    while True:
        commit = StepCommit(
            flow="crash",
            key=key,
            instance=InstanceRow(
                flow="crash",
                key=key,
                ir_hash="h",
                seq=seq + 1,
                state=f"s{seq + 1}",
                status="active",
                snapshot={"seq": seq + 1, "pad": "x" * 200},
                updated_ms=seq,
            ),
            journal=JournalEntry(seq=seq, input={"n": seq}, trace={}, at_ms=seq),
            outbox=(
                OutboxMessage(
                    topic="out", key=key, value=seq, headers={}, dedup_key=f"{key}/{seq}"
                ),
            ),
        )
        await store.commit(commit)
        ack(f"commit {key} {seq}")
        seq += 1


async def ingest_forever(store: Store, run: str) -> None:
    for n in itertools.count():
        source = f"http:{run}-{n}"
        item = InboxItem(flow="crash", key="in", input={"n": n}, received_ms=n, source=source)
        await store.ingest([item])
        ack(f"ingest {source}")


async def main(workers: int, target: list[str]) -> None:
    store: Store
    if target[1:] == ["process"]:
        store = await SQLiteStore.open(target[0], writer="process")
    elif len(target) == 2:
        store = await PostgresStore.open(target[0], schema=target[1])
    else:
        store = await SQLiteStore.open(target[0])
    run = str(os.getpid())
    await asyncio.gather(
        ingest_forever(store, run), *(commit_forever(store, f"k{i}") for i in range(workers))
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:]))
