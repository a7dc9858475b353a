"""Group commit: many writes per transaction, isolated write failures, whole-batch rollback.

The store-level tests run on both stores, SQLite's writes on a thread: they
count or fail the writer's COMMITs through a seam in this process (the writer
process has its own tests, test_writer_process.py); those of `GroupCommitter`
itself, on SQLite.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from flowyard.interpreter.store import ConflictError, StepCommit, Store, StoreError
from flowyard.interpreter.store.groupcommit import GroupCommitter
from store_backends import Backend, schema_number

CommitFor = Callable[..., StepCommit]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, db_path: Path) -> Backend:
    """The stores whose COMMIT this process can count or fail."""
    if request.param == "sqlite":
        return Backend("sqlite", db_path)
    cluster = request.getfixturevalue("postgres_cluster")
    return Backend("postgresql", db_path, cluster.dsn, f"t{os.getpid()}_{schema_number()}")


@pytest.fixture
def commits_counted(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real COMMIT statements the writer issues."""
    counted: list[int] = []
    seam = backend.seam()
    real = seam.commit_transaction
    if backend.name == "sqlite":

        def counting(conn: sqlite3.Connection) -> None:
            real(conn)
            counted.append(1)

        monkeypatch.setattr(seam, "commit_transaction", counting)
    else:

        async def counting_async(conn: object) -> None:
            await real(conn)
            counted.append(1)

        monkeypatch.setattr(seam, "commit_transaction", counting_async)
    return counted


async def test_concurrent_commits_share_few_transactions_and_survive_reopen(
    backend: Backend, commit_for: CommitFor, commits_counted: list[int]
) -> None:
    async with await backend.open() as store:
        await asyncio.gather(
            *(store.commit(commit_for(f"k{i}", data={"i": i})) for i in range(100))
        )
        stats = store.stats
    assert stats.operations == 100
    assert stats.transactions == len(commits_counted)
    assert 1 <= len(commits_counted) <= 5
    assert stats.largest_batch >= 20

    async with await backend.open() as reopened:
        instances = await reopened.instances("orders")
        assert sorted(int(i.key[1:]) for i in instances) == list(range(100))
        assert all(i.snapshot["data"] == {"i": int(i.key[1:])} for i in instances)
        for i in (0, 57, 99):
            assert [j.seq for j in await reopened.journal("orders", f"k{i}")] == [0]


async def test_batches_are_bounded(backend: Backend, commit_for: CommitFor) -> None:
    async with await backend.open(max_batch=10) as store:
        await asyncio.gather(*(store.commit(commit_for(f"k{i}")) for i in range(100)))
        assert store.stats.largest_batch <= 10
        assert store.stats.transactions >= 10
        assert len(await store.instances()) == 100


async def test_a_failing_write_fails_alone_in_its_batch(
    store: Store, commit_for: CommitFor, commits_counted: list[int]
) -> None:
    await store.commit(commit_for("dup", 0))
    commits_counted.clear()
    batch = [commit_for(f"k{i}") for i in range(20)]
    batch.insert(7, commit_for("dup", 0, state="second"))
    results = await asyncio.gather(*(store.commit(c) for c in batch), return_exceptions=True)
    assert isinstance(results[7], ConflictError)
    assert [r for i, r in enumerate(results) if i != 7] == [None] * 20
    assert len(commits_counted) <= 2
    assert len(await store.instances()) == 21
    dup = await store.load_instance("orders", "dup")
    assert dup is not None and dup.state == "open"


async def test_a_failing_transaction_rolls_back_the_whole_batch(
    backend: Backend, commit_for: CommitFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    seam = backend.seam()
    real = seam.commit_transaction
    if backend.name == "sqlite":
        failures: list[Exception] = [sqlite3.OperationalError("disk I/O error")]

        def failing_once(conn: sqlite3.Connection) -> None:
            if failures:
                raise failures.pop()
            real(conn)

        monkeypatch.setattr(seam, "commit_transaction", failing_once)
    else:
        failures = [asyncpg.exceptions.DiskFullError("could not extend file")]

        async def failing_once_async(conn: object) -> None:
            if failures:
                raise failures.pop()
            await real(conn)

        monkeypatch.setattr(seam, "commit_transaction", failing_once_async)
    injected = type(failures[0])
    async with await backend.open() as store:
        results = await asyncio.gather(
            *(store.commit(commit_for(f"k{i}")) for i in range(10)), return_exceptions=True
        )
        for result in results:
            assert isinstance(result, StoreError)
            assert isinstance(result.__cause__, injected)
        assert await store.instances() == []
        assert store.stats.failed_transactions == 1

        await store.commit(commit_for("after"))
        assert [i.key for i in await store.instances()] == ["after"]
    async with await backend.open() as reopened:
        assert [i.key for i in await reopened.instances()] == ["after"]


@pytest.fixture
async def committer(db_path: Path) -> AsyncIterator[GroupCommitter]:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(db_path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        return conn

    gc = GroupCommitter(connect)
    await gc.start()
    try:
        yield gc
    finally:
        await gc.close()


def insert(v: int) -> Callable[[sqlite3.Connection], int]:
    def write(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (v,))
        return v

    return write


def stored(db_path: Path) -> list[int]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT v FROM t ORDER BY v")]


async def occupy_writer(committer: GroupCommitter, value: int) -> asyncio.Future[int]:
    """Start a slow write of `value`; what is submitted while it runs forms the next batch."""

    def slow(conn: sqlite3.Connection) -> int:
        time.sleep(0.2)
        return insert(value)(conn)

    first = asyncio.ensure_future(committer.submit(slow))
    await asyncio.sleep(0.05)
    return first


async def test_writes_queued_during_a_transaction_form_the_next_batch(
    committer: GroupCommitter, db_path: Path
) -> None:
    first = await occupy_writer(committer, -1)
    rest = await asyncio.gather(*(committer.submit(insert(v)) for v in range(50)))
    assert await first == -1
    assert rest == list(range(50))
    assert committer.stats.transactions == 2
    assert committer.stats.largest_batch == 50
    assert stored(db_path) == [-1, *range(50)]


async def test_the_writer_takes_its_next_batch_while_the_event_loop_is_busy(
    committer: GroupCommitter, db_path: Path
) -> None:
    first = await occupy_writer(committer, -1)
    second = asyncio.ensure_future(committer.submit(insert(1)))
    await asyncio.sleep(0)  # queued behind the slow write
    time.sleep(0.6)  # the loop does other work; the writer goes on regardless
    assert stored(db_path) == [-1, 1]
    assert (await first, await second) == (-1, 1)


async def test_a_writer_that_dies_fails_its_batch_and_every_write_after_it(
    committer: GroupCommitter, db_path: Path
) -> None:
    def fatal(conn: sqlite3.Connection) -> None:
        time.sleep(0.1)
        raise SystemExit("the writer thread is told to stop")

    dying = asyncio.ensure_future(committer.submit(fatal))
    await asyncio.sleep(0.02)
    behind = asyncio.ensure_future(committer.submit(insert(1)))
    with pytest.raises(StoreError, match="rolled back"):
        await dying
    with pytest.raises(StoreError, match="writer stopped"):
        await behind
    with pytest.raises(StoreError, match="closed"):
        await committer.submit(insert(2))
    assert stored(db_path) == []


async def test_a_transaction_level_error_in_a_write_fails_its_batch(
    committer: GroupCommitter, db_path: Path
) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    results = await asyncio.gather(
        committer.submit(insert(1)),
        committer.submit(broken),
        committer.submit(insert(2)),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreError) for r in results)
    assert stored(db_path) == []
    assert await committer.submit(insert(3)) == 3
    assert stored(db_path) == [3]


async def test_close_finishes_queued_writes_then_refuses(
    committer: GroupCommitter, db_path: Path
) -> None:
    pending = [asyncio.ensure_future(committer.submit(insert(v))) for v in range(5)]
    await asyncio.sleep(0)
    await committer.close()
    assert [await p for p in pending] == list(range(5))
    assert stored(db_path) == list(range(5))
    with pytest.raises(StoreError, match="closed"):
        await committer.submit(insert(9))


async def test_a_cancelled_writer_settles_the_batch_in_flight(
    committer: GroupCommitter, db_path: Path
) -> None:
    def slow(conn: sqlite3.Connection) -> int:
        time.sleep(0.2)
        return insert(1)(conn)

    in_flight = asyncio.ensure_future(committer.submit(slow))
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(committer.submit(insert(2)))
    await asyncio.sleep(0)
    writer = committer._task  # as the loop's shutdown would
    assert writer is not None
    writer.cancel()
    assert await in_flight == 1
    with pytest.raises(StoreError, match="shut down"):
        await queued
    assert stored(db_path) == [1]
    with pytest.raises(StoreError, match="closed"):
        await committer.submit(insert(3))


class Merged:
    """A merge function that records how many items each call got."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, conn: sqlite3.Connection, items: list[int]) -> list[int]:
        self.calls.append(len(items))
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in items])
        if any(v < 0 for v in items):
            raise ValueError("negative values are refused")
        return [v * 10 for v in items]


async def test_adjacent_merged_writes_run_as_one_call(
    committer: GroupCommitter, db_path: Path
) -> None:
    merge = Merged()
    first = await occupy_writer(committer, -100)
    results = await asyncio.gather(
        *(committer.submit_merged(v, merge) for v in range(5)),
        committer.submit(insert(50)),
        *(committer.submit_merged(v, merge) for v in range(5, 8)),
    )
    assert await first == -100
    assert results == [0, 10, 20, 30, 40, 50, 50, 60, 70]
    assert merge.calls == [5, 3]  # a plain write in between splits the run
    assert stored(db_path) == [-100, *range(8), 50]


async def test_a_failing_item_of_a_merged_run_fails_alone(
    committer: GroupCommitter, db_path: Path
) -> None:
    merge = Merged()
    first = await occupy_writer(committer, -100)
    results = await asyncio.gather(
        *(committer.submit_merged(v, merge) for v in (1, 2, -3, 4)), return_exceptions=True
    )
    await first
    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], ValueError)
    assert merge.calls == [4, 1, 1, 1, 1]  # the merged call, then each alone
    assert stored(db_path) == [-100, 1, 2, 4]
