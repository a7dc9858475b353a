"""Group commit: one writer thread, many writes per SQLite transaction.

Callers `submit` a write (a function of the connection). The writer thread
takes every write queued while its previous transaction was being written, runs
them in one transaction (one COMMIT, so one fsync of the WAL at
`synchronous=FULL`), and hands the results back to the event loop, which
resolves each caller's future. The thread takes its next batch as soon as a
transaction is done, without waiting for the event loop, so writing one batch
overlaps with the loop preparing the next.

Each write runs inside its own SAVEPOINT, so a write that fails on its own
(a constraint it breaks, a value it cannot encode) is rolled back alone and
only its caller sees the error. Writes submitted with `submit_merged` that sit
next to each other in a batch and share one `Merge` function run as one call
(one savepoint, bulk statements); if that call fails on a write's account it is
rolled back and each write runs alone, so the failure still reaches only the
caller whose write it was. When the transaction itself fails (I/O error,
disk full, a failing COMMIT) the whole batch is rolled back and every caller in
it gets a `StoreError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from .base import StoreClosedError, StoreError, StoreStats, WriteCounts
from .files import leave_open

T = TypeVar("T")

log = logging.getLogger("flowyard.store.writer")

Write = Callable[[sqlite3.Connection], Any]
"""A write: runs on the writer thread inside an open transaction."""

Merge = Callable[[sqlite3.Connection, list[Any]], list[Any]]
"""Runs several items' writes at once; one result per item, in order."""


@dataclass(frozen=True, slots=True)
class Call:
    """A write as a module-level function and what it is called with after the
    connection: unlike a closure, it can be handed to a writer process."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()

    def __call__(self, conn: sqlite3.Connection) -> Any:
        return self.function(conn, *self.args)


# Errors that concern the transaction or the file, not the one write: the
# transaction may already be gone, so the batch cannot go on.
_BATCH_ERRORS = (sqlite3.OperationalError, sqlite3.InternalError)


def _is_batch_error(error: BaseException) -> bool:
    if isinstance(error, _BATCH_ERRORS):
        return True
    # The bare DatabaseError is corruption ("file is not a database"); its
    # subclasses (IntegrityError, ProgrammingError, ...) are the write's own.
    return type(error) is sqlite3.DatabaseError


@dataclass(slots=True)
class Job:
    """A plain write, or one item of a mergeable kind of write."""

    write: Write | None
    merge: Merge | None = None
    item: Any = None


@dataclass(slots=True)
class _Queued:
    job: Job
    future: asyncio.Future[Any]


@dataclass(slots=True)
class Outcome:
    results: list[tuple[bool, Any]]
    committed: bool
    error: BaseException | None


class Committer(ABC):
    """What a store's writer does on the event loop, however it writes: the
    counters, and each batch's outcome handed to its callers' futures."""

    def __init__(self) -> None:
        self._closed = False
        self._counts = WriteCounts()
        self._lost = asyncio.Event()
        self._lost_reason = ""

    async def submit(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Queue `write`; return its result once its transaction has committed."""
        return cast(T, await self._enqueue(Job(write)))

    async def submit_merged(self, item: Any, merge: Merge) -> Any:
        """Queue `item` for `merge`, which may run it together with the items
        queued next to it for the same `merge`; its result once committed."""
        return await self._enqueue(Job(None, merge, item))

    @abstractmethod
    async def _enqueue(self, job: Job) -> Any:
        """Hand `job` to the writer; its result once its transaction has committed."""

    @abstractmethod
    async def close(self) -> None:
        """Finish every write queued, then stop writing."""

    async def wait_lost(self) -> str:
        """Wait until the writer stops without being closed (it failed or was
        killed); why, for people. Every write then fails with `StoreClosedError`."""
        await self._lost.wait()
        return self._lost_reason

    def _mark_lost(self, reason: str) -> None:
        if not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()

    @property
    def stats(self) -> StoreStats:
        """Counters since start."""
        return self._counts.stats()

    def _resolve(self, futures: Sequence[asyncio.Future[Any]], outcome: Outcome) -> None:
        self._counts.record(committed=outcome.committed, size=len(futures))
        if not outcome.committed:
            assert outcome.error is not None
            _fail_all(futures, outcome.error)
            return
        for future, (ok, value) in zip(futures, outcome.results, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


def _fail_all(futures: Sequence[asyncio.Future[Any]], error: BaseException) -> None:
    """Fail `futures` for a transaction that failed with `error` and was rolled back."""
    for future in futures:
        if not future.done():
            failure = StoreError(f"the transaction failed and was rolled back: {error}")
            failure.__cause__ = error
            future.set_exception(failure)


def fail_closed(futures: Sequence[asyncio.Future[Any]], error: StoreClosedError) -> None:
    """Fail `futures` of writes never written: the writer is gone."""
    for future in futures:
        if not future.done():
            future.set_exception(error)


class GroupCommitter(Committer):
    """Serialises all writes to one SQLite connection, batching them.

    The connection is created on, used from and closed on the writer thread.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_batch: int = 256,
        before_batch: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        super().__init__()
        self._connect = connect
        self._before_batch = before_batch
        """Called on the writer thread before each transaction; what it raises
        fails the batch (e.g. the store's files can no longer be written)."""
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._abandoned = False

    async def start(self) -> None:
        """Open the connection on a new writer thread and start writing."""
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._finished = loop.create_future()
        # A daemon, so that a process leaving without closing the store does not
        # hang on it; SQLite rolls back a transaction cut short.
        threading.Thread(
            target=self._write, args=(opened,), name="flowd-store-writer", daemon=True
        ).start()
        await opened
        self._task = asyncio.create_task(self._watch(), name="flowd-store-writer")

    async def _enqueue(self, job: Job) -> Any:
        if self._closed or self._task is None or self._task.done():
            raise StoreClosedError("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put(_Queued(job, future))
        return await future

    async def close(self) -> None:
        """Finish every queued write, then close the connection and thread."""
        if self._closed:
            return
        self._closed = True
        if self._task is None:
            return
        self._queue.put(None)
        # A writer that died has already failed every write it held.
        with contextlib.suppress(Exception):
            await self._task

    async def _watch(self) -> None:
        """Wait for the writer thread to finish; cancelled (the loop shutting
        down without closing the store), let it finish the transaction it is
        writing and fail the writes queued behind it."""
        assert self._finished is not None
        try:
            await asyncio.shield(self._finished)
        except asyncio.CancelledError:
            self._abandoned = True
            self._queue.put(None)
            await self._finished
            raise

    # --- on the writer thread ----------------------------------------------------

    def _write(self, opened: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
        except BaseException as error:
            self._post(_settle_future, opened, error)
            self._post(self._writer_done, StoreClosedError("the store could not be opened"))
            return
        self._post(_settle_future, opened, None)
        ended = StoreClosedError("the store is closed")
        try:
            self._write_batches(conn)
        except BaseException as error:
            # Its writes' callers hear of it; the thread itself just ends.
            log.error("the store writer stopped", exc_info=True)
            ended = StoreClosedError(f"the store writer stopped: {error!r}")
        finally:
            if self._safe_to_close():
                conn.close()
            else:
                leave_open(conn)
            self._post(self._writer_done, ended)

    def _write_batches(self, conn: sqlite3.Connection) -> None:
        while True:
            batch, stopping = self._next_batch()
            futures = [q.future for q in batch]
            if self._abandoned:
                self._post(fail_closed, futures, StoreClosedError("the store was shut down"))
            elif batch:
                try:
                    outcome = apply_checked(conn, [q.job for q in batch], self._before_batch)
                except BaseException as error:
                    self._post(self._resolve, futures, Outcome([], committed=False, error=error))
                    raise
                self._post(self._resolve, futures, outcome)
            if stopping:
                return

    def _safe_to_close(self) -> bool:
        """Whether closing may write (SQLite checkpoints on the last close): not
        when `before_batch` says the files cannot be written (see `files`)."""
        if self._before_batch is None:
            return True
        try:
            self._before_batch()
        except Exception as error:
            log.error("the store connection is left open, not checkpointed: %s", error)
            return False
        return True

    def _next_batch(self) -> tuple[list[_Queued], bool]:
        """The writes queued now (waiting for one), and whether the stop mark came;
        after the stop mark, whatever was still queued behind it goes too."""
        batch: list[_Queued] = []
        first = self._queue.get()
        if first is None:
            return [*batch, *self._drain()], True
        batch.append(first)
        while len(batch) < self._max_batch:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if queued is None:
                return [*batch, *self._drain()], True
            batch.append(queued)
        return batch, False

    def _drain(self) -> list[_Queued]:
        """Every write still queued (stop marks left out); the queue is then empty."""
        left: list[_Queued] = []
        with contextlib.suppress(queue.Empty):
            while True:
                queued = self._queue.get_nowait()
                if queued is not None:
                    left.append(queued)
        return left

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        # A loop already closed has nobody left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    # --- back on the event loop --------------------------------------------------

    def _writer_done(self, error: StoreClosedError) -> None:
        """The writer thread has ended: refuse new writes, fail any that were
        queued after it took its last batch, and let `_watch` return."""
        if not self._closed:
            self._mark_lost(str(error))
        self._closed = True
        fail_closed([q.future for q in self._drain()], error)
        _settle_future(self._finished, None)


def _settle_future(future: asyncio.Future[None] | None, error: BaseException | None) -> None:
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def commit_transaction(conn: sqlite3.Connection) -> None:
    """COMMIT; a module-level seam so tests can make a commit fail."""
    conn.execute("COMMIT")


def apply_checked(
    conn: sqlite3.Connection, jobs: list[Job], before: Callable[[], None] | None
) -> Outcome:
    """`apply_jobs`, unless `before` (the store's files still writable, say)
    raises: then the batch fails with that, unwritten."""
    if before is not None:
        try:
            before()
        except Exception as error:
            return Outcome(results=[], committed=False, error=error)
    return apply_jobs(conn, jobs)


def apply_jobs(conn: sqlite3.Connection, jobs: list[Job]) -> Outcome:
    """Run `jobs` in one transaction (on the writer thread, or in the writer process)."""
    results: list[tuple[bool, Any]] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        start = 0
        while start < len(jobs):
            end = start + 1
            merge = jobs[start].merge
            if merge is not None:
                while end < len(jobs) and jobs[end].merge is merge:
                    end += 1
            group = jobs[start:end]
            if len(group) == 1 or not _run_merged(conn, group, results):
                for job in group:
                    results.append(_run_alone(conn, job))
            start = end
        commit_transaction(conn)
    except BaseException as error:
        _rollback(conn)
        if not isinstance(error, Exception):
            raise
        return Outcome(results=[], committed=False, error=error)
    return Outcome(results=results, committed=True, error=None)


def in_savepoint(
    conn: sqlite3.Connection, name: str, run: Callable[[], T]
) -> tuple[bool, T | Exception]:
    """Run `run` inside SAVEPOINT `name`: `(True, its value)`, or `(False, the
    error)` with its writes rolled back when it failed on its own account. An
    error that concerns the transaction or the file is raised: the batch
    cannot go on."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        value = run()
    except Exception as error:
        if _is_batch_error(error) or not conn.in_transaction:
            raise
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        return (False, error)
    conn.execute(f"RELEASE {name}")
    return (True, value)


def _run_alone(conn: sqlite3.Connection, job: Job) -> tuple[bool, Any]:
    ok, value = in_savepoint(conn, "write", lambda: _write_one(conn, job))
    return (True, value) if ok else (False, _as_store_error(cast(Exception, value)))


def _write_one(conn: sqlite3.Connection, job: Job) -> Any:
    if job.write is not None:
        return job.write(conn)
    assert job.merge is not None
    (value,) = job.merge(conn, [job.item])
    return value


def _run_merged(
    conn: sqlite3.Connection, group: list[Job], results: list[tuple[bool, Any]]
) -> bool:
    """Run `group` as one merged call; False (and nothing done) if one of its
    writes failed on its own account, so each must run alone to find which."""
    merge = group[0].merge
    assert merge is not None
    ok, values = in_savepoint(conn, "merged", lambda: merge(conn, [job.item for job in group]))
    if not ok:
        return False
    assert isinstance(values, list)
    if len(values) != len(group):
        raise RuntimeError(f"a merged write gave {len(values)} results for {len(group)} items")
    results.extend((True, value) for value in values)
    return True


def _rollback(conn: sqlite3.Connection) -> None:
    if not conn.in_transaction:
        return
    # SQLite may have rolled back already, or the file is gone; either way the
    # next BEGIN starts clean or reports the real problem.
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _as_store_error(error: Exception) -> Exception:
    if isinstance(error, StoreError | ValueError | TypeError):
        return error
    wrapped = StoreError(str(error))
    wrapped.__cause__ = error
    return wrapped
