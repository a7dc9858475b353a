"""Child process for test_fencing.py: owns partition 0 and commits until refused.

Usage: python fenced_writer.py DSN SCHEMA. Claims partition 0 as "zombie",
then commits steps of instance `zombie/k` one after another, printing
`commit <seq>` after each is acknowledged; when a commit is refused it prints
`fenced <message>` and exits 0. A transaction cut short (paused too long inside
it) is tried again, as flowd's runtime does.
"""

from __future__ import annotations

import asyncio
import os
import sys

from flowyard.interpreter.store import (
    InstanceRow,
    JournalEntry,
    PostgresStore,
    StepCommit,
    StoreError,
)
from flowyard.interpreter.store.postgres_fence import FencedError


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


async def main(dsn: str, schema: str) -> None:
    # Paused inside a transaction, the server ends it after half a second.
    async with await PostgresStore.open(dsn, schema=schema, idle_in_transaction_ms=500) as store:
        await store.claim_partitions("zombie", [0], at_ms=0)
        say("claimed")
        seq = 0
        while True:
            commit = StepCommit(
                "zombie",
                "k",
                InstanceRow("zombie", "k", "h", seq + 1, "s", "active", {"seq": seq + 1}, seq),
                JournalEntry(seq, {"n": seq}, {}, seq),
            )
            try:
                await store.commit(commit)
            except FencedError as error:
                say(f"fenced {error}")
                return
            except StoreError:
                continue  # the transaction was cut short: try the same step again
            say(f"commit {seq}")
            seq += 1
            await asyncio.sleep(0.01)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
