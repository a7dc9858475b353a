"""Partition epochs on PostgreSQL: a writer whose partition moved on is refused."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.store import PostgresStore, StepCommit, StoreError, postgres_writes
from flowyard.interpreter.store.postgres_fence import EpochHolder, FencedError
from store_backends import Backend, hold_writer

CommitFor = Callable[..., StepCommit]
WRITER = Path(__file__).with_name("fenced_writer.py")


@pytest.fixture
async def two(pg: Backend) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database, as two flowd processes would have."""
    first, second = await pg.open(), await pg.open()
    assert isinstance(first, PostgresStore) and isinstance(second, PostgresStore)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_writer_whose_partition_was_taken_over_is_refused_and_writes_nothing(
    two: tuple[PostgresStore, PostgresStore], commit_for: CommitFor
) -> None:
    a, b = two
    assert await a.claim_partitions("a", [0, 1], at_ms=1) == {0: 1, 1: 1}
    await a.commit(commit_for("k0"))
    assert await b.claim_partitions("b", [1], at_ms=2) == {1: 2}

    with pytest.raises(FencedError) as refused:
        await a.commit(commit_for("k1"))
    assert refused.value.lost == {1: EpochHolder(epoch=2, owner="b")}
    assert "partition(s) 1 (held at epoch 1, now epoch 2 of b)" in str(refused.value)
    assert await a.load_instance("orders", "k1") is None
    assert a.stats.failed_transactions == 1

    # The loser gives the partition up and goes on with the one it kept.
    a.release_partitions(list(refused.value.lost))
    assert a.held_partitions() == {0: 1}
    await a.commit(commit_for("k1"))
    await b.commit(commit_for("k2"))
    holders = await b.partition_holders()
    assert holders == {0: EpochHolder(epoch=1, owner="a"), 1: EpochHolder(epoch=2, owner="b")}


async def test_every_write_of_a_fenced_batch_is_refused(
    pg: Backend, two: tuple[PostgresStore, PostgresStore], commit_for: CommitFor
) -> None:
    a, b = two
    await a.claim_partitions("a", [3], at_ms=1)
    held = await hold_writer(pg, a)  # a transaction that checked epoch 1, in flight
    claim = asyncio.ensure_future(b.claim_partitions("b", [3], at_ms=2))  # waits for it
    await asyncio.sleep(0.05)
    # Queued behind it: one batch, checked after the claim.
    results = await asyncio.gather(
        *(a.commit(commit_for(f"k{i}")) for i in range(10)), return_exceptions=True
    )
    await held
    assert await claim == {3: 2}
    assert all(isinstance(r, FencedError) for r in results), results
    assert await a.instances() == []


async def test_a_claim_waits_for_the_old_owners_transaction_in_flight(
    two: tuple[PostgresStore, PostgresStore], commit_for: CommitFor
) -> None:
    a, b = two
    await a.claim_partitions("a", [0], at_ms=1)

    async def slow_commit(conn: Any) -> None:
        # The transaction has checked epoch 1 (holding its row) and is still open.
        await conn.execute("SELECT pg_sleep(0.4)")
        await postgres_writes.commit_turns(conn, [[commit_for("in-flight")]], parts=a._partitions)

    in_flight = asyncio.ensure_future(a._committer.submit(slow_commit))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await b.claim_partitions("b", [0], at_ms=2)
    assert time.monotonic() - started > 0.15  # it waited for that transaction to end
    # ... which committed, before the new epoch existed: the new owner reads its write.
    assert await b.load_instance("orders", "in-flight") is not None
    await in_flight
    with pytest.raises(FencedError):
        await a.commit(commit_for("after"))
    assert await b.load_instance("orders", "after") is None


async def test_an_old_owner_paused_inside_a_transaction_delays_a_claim_only_briefly(
    pg: Backend, commit_for: CommitFor
) -> None:
    a = await PostgresStore.open(pg.dsn, schema=pg.schema, idle_in_transaction_ms=300)
    b = await pg.open()
    assert isinstance(b, PostgresStore)
    try:
        await a.claim_partitions("a", [0], at_ms=1)

        async def paused(conn: Any) -> None:
            await postgres_writes.commit_turns(conn, [[commit_for("paused")]], parts=a._partitions)
            await asyncio.sleep(1.5)  # the process stalls, its transaction open

        stalled = asyncio.ensure_future(a._committer.submit(paused))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await b.claim_partitions("b", [0], at_ms=2)
        # The server ended the stalled session: the claim did not wait for it to wake.
        assert time.monotonic() - started < 1.2
        with pytest.raises(StoreError):
            await stalled
        assert await b.load_instance("orders", "paused") is None
        with pytest.raises(FencedError):  # awake, on a new connection: refused
            await a.commit(commit_for("paused"))
    finally:
        await a.close()
        await b.close()


async def test_a_paused_process_is_refused_when_it_wakes(pg: Backend) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WRITER), pg.dsn, pg.schema,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            assert await proc.stdout.readline() == b"claimed\n"
            for _ in range(3):
                assert (await proc.stdout.readline()).startswith(b"commit ")
            proc.send_signal(signal.SIGSTOP)
            async with await pg.open() as successor:
                assert isinstance(successor, PostgresStore)
                await successor.claim_partitions("successor", [0], at_ms=5)
                journal_at_takeover = await successor.journal("zombie", "k")
                proc.send_signal(signal.SIGCONT)
                rest = (await proc.stdout.read()).decode().splitlines()
                assert await proc.wait() == 0, (await proc.stderr.read()).decode()
                # At most the one write acknowledged before the pause's takeover took
                # effect; then the next write was attempted and refused.
                assert rest[-1].startswith("fenced ") and "now epoch 2 of successor" in rest[-1]
                assert all(line.startswith("commit ") for line in rest[:-1])
                assert await successor.journal("zombie", "k") == journal_at_takeover
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            await proc.wait()
