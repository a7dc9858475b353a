"""Group commit on PostgreSQL: one writer task, many writes per transaction.

The PostgreSQL counterpart of `groupcommit.py`, with the same contract. asyncpg
is asynchronous, so no thread is needed: a writer task on the event loop owns
one connection, takes every write queued while its previous transaction was in
flight (up to `max_batch`), runs them in one transaction and resolves each
caller's future once COMMIT has returned (durable at `synchronous_commit = on`,
PostgreSQL's default).

Each write runs inside its own SAVEPOINT, so a write that fails on its own (a
constraint it breaks, a value PostgreSQL refuses) is rolled back alone and only
its caller sees the error. Writes submitted with `submit_merged` that sit next
to each other in a batch and share one `Merge` function run as one call (one
savepoint, bulk statements); if that call fails on a write's account it is
rolled back and each write runs alone. When the transaction itself fails (the
connection is lost, the server shuts down, a failing COMMIT) the whole batch is
rolled back and every caller in it gets a `StoreError`; the writer reconnects
before its next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import asyncpg

from .base import StoreClosedError, StoreError, StoreStats, WriteCounts

T = TypeVar("T")

log = logging.getLogger("flowyard.store.writer")

Connection = Any
"""An `asyncpg.Connection` (asyncpg ships no type hints)."""

Write = Callable[[Connection], Awaitable[Any]]
"""A write: runs on the writer's connection inside an open transaction."""

Merge = Callable[[Connection, list[Any]], Awaitable[list[Any]]]
"""Runs several items' writes at once; one result per item, in order."""

Fence = Callable[[Connection], Awaitable[None]]
"""Runs first in every write transaction; raises `StoreError` to refuse it
(a writer whose partition epoch is no longer current: see `PostgresStore`)."""

PROBE_TIMEOUT_S = 5.0

# SQLSTATE classes that are a statement's own fault: data exceptions (22) and
# integrity constraint violations (23). Anything else the server reports
# (serialization failures, deadlocks, shutdown, disk full) concerns the batch.
_OWN_CLASSES = ("22", "23")


def _is_own_error(error: Exception) -> bool:
    """Whether `error` is the write's own fault (roll back its savepoint and go
    on) rather than the transaction's or the connection's."""
    if isinstance(error, asyncpg.PostgresError):
        return str(error.sqlstate)[:2] in _OWN_CLASSES
    if isinstance(error, asyncpg.InterfaceError):
        # A value asyncpg cannot encode for a parameter is a ValueError too.
        return isinstance(error, ValueError)
    # asyncpg's own state errors (a connection the server ended while this
    # process was paused, say) concern the connection.
    return not isinstance(error, OSError | asyncio.TimeoutError | asyncpg.InternalClientError)


@dataclass(slots=True)
class _Queued:
    write: Write | None
    merge: Merge | None
    item: Any
    future: asyncio.Future[Any]


class PgGroupCommitter:
    """Serialises all writes to one PostgreSQL connection, batching them."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        max_batch: int = 256,
        fence: Fence | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._connect = connect
        self._max_batch = max_batch
        self.fence = fence
        self._queue: asyncio.Queue[_Queued | None] = asyncio.Queue()
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._counts = WriteCounts()

    async def start(self) -> None:
        """Open the writer's connection and start writing."""
        self._conn = await self._connect()
        self._task = asyncio.create_task(self._write_batches(), name="flowd-store-writer")

    def reconnect_with(self, connect: Callable[[], Awaitable[Connection]]) -> None:
        """Open a lost connection with `connect` from now on (the first one may
        also have migrated the schema, which need not happen again)."""
        self._connect = connect

    async def submit(self, write: Callable[[Connection], Awaitable[T]]) -> T:
        """Queue `write`; return its result once its transaction has committed."""
        return cast(T, await self._enqueue(write, None, None))

    async def submit_merged(self, item: Any, merge: Merge) -> Any:
        """Queue `item` for `merge`, which may run it together with the items
        queued next to it for the same `merge`; its result once committed."""
        return await self._enqueue(None, merge, item)

    async def _enqueue(self, write: Write | None, merge: Merge | None, item: Any) -> Any:
        if self._closed or self._task is None or self._task.done():
            raise StoreClosedError("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Queued(write, merge, item, future))
        return await future

    @property
    def stats(self) -> StoreStats:
        """Counters since start."""
        return self._counts.stats()

    async def close(self) -> None:
        """Finish every queued write, then close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    # --- the writer task -----------------------------------------------------------

    async def _write_batches(self) -> None:
        batch: list[_Queued] = []
        try:
            while True:
                batch, stopping = await self._next_batch()
                if batch:
                    await self._write_batch(batch)
                batch = []
                if stopping:
                    return
        except asyncio.CancelledError:
            # The loop is shutting down without closing the store.
            self._closed = True
            _fail([*batch, *self._drain()], StoreClosedError("the store was shut down"))
            raise
        except BaseException as error:
            log.error("the store writer stopped", exc_info=True)
            self._closed = True
            _fail(
                [*batch, *self._drain()], StoreClosedError(f"the store writer stopped: {error!r}")
            )
            raise

    async def _next_batch(self) -> tuple[list[_Queued], bool]:
        first = await self._queue.get()
        if first is None:
            return self._drain(), True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                queued = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return batch, False
            if queued is None:
                return [*batch, *self._drain()], True
            batch.append(queued)
        return batch, False

    def _drain(self) -> list[_Queued]:
        left: list[_Queued] = []
        while True:
            try:
                queued = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return left
            if queued is not None:
                left.append(queued)

    async def _write_batch(self, batch: list[_Queued]) -> None:
        try:
            conn = await self._connection()
            results = await self._apply(conn, batch)
        except Exception as error:
            self._counts.record(committed=False, size=len(batch))
            if not isinstance(error, StoreError):
                await self._drop_if_broken()
            for queued in batch:
                if not queued.future.done():
                    failure = (
                        error
                        if isinstance(error, StoreError) and not isinstance(error, StoreClosedError)
                        else StoreError(f"the transaction failed and was rolled back: {error}")
                    )
                    if failure is not error:
                        failure.__cause__ = error
                    queued.future.set_exception(failure)
            return
        self._counts.record(committed=True, size=len(batch))
        for queued, (ok, value) in zip(batch, results, strict=True):
            if queued.future.done():
                continue
            if ok:
                queued.future.set_result(value)
            else:
                queued.future.set_exception(value)

    async def _drop_if_broken(self) -> None:
        """After a failed batch: forget the connection unless it still answers
        (the server may have ended the session: shutdown, an idle timeout)."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        try:
            await conn.fetchval("SELECT 1", timeout=PROBE_TIMEOUT_S)
        except Exception:
            conn.terminate()
            self._conn = None

    async def _connection(self) -> Connection:
        """The writer's connection, opened again if the last one was lost."""
        if self._conn is None or self._conn.is_closed():
            if self._conn is not None:
                self._conn.terminate()
            self._conn = None
            self._conn = await self._connect()
        return self._conn

    async def _apply(self, conn: Connection, batch: list[_Queued]) -> list[tuple[bool, Any]]:
        """Run `batch` in one transaction; one `(ok, value or error)` per write."""
        results: list[tuple[bool, Any]] = []
        await conn.execute("BEGIN")
        try:
            if self.fence is not None:
                await self.fence(conn)
            start = 0
            while start < len(batch):
                end = start + 1
                merge = batch[start].merge
                if merge is not None:
                    while end < len(batch) and batch[end].merge is merge:
                        end += 1
                group = batch[start:end]
                if len(group) == 1 or not await _run_merged(conn, group, results):
                    for queued in group:
                        results.append(await _run_alone(conn, queued))
                start = end
            await commit_transaction(conn)
        except BaseException:
            await _rollback(conn)
            raise
        return results


async def commit_transaction(conn: Connection) -> None:
    """COMMIT; a module-level seam so tests can make a commit fail."""
    await conn.execute("COMMIT")


async def in_savepoint(
    conn: Connection, name: str, run: Callable[[], Awaitable[T]]
) -> tuple[bool, T | Exception]:
    """Run `run` inside SAVEPOINT `name`: `(True, its value)`, or `(False, the
    error)` with its writes rolled back when it failed on its own account. An
    error that concerns the transaction or the connection is raised: the batch
    cannot go on."""
    await conn.execute(f"SAVEPOINT {name}")
    try:
        value = await run()
    except Exception as error:
        if not _is_own_error(error):
            raise
        await conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
        await conn.execute(f"RELEASE SAVEPOINT {name}")
        return (False, error)
    await conn.execute(f"RELEASE SAVEPOINT {name}")
    return (True, value)


async def _run_alone(conn: Connection, queued: _Queued) -> tuple[bool, Any]:
    async def one() -> Any:
        if queued.write is not None:
            return await queued.write(conn)
        assert queued.merge is not None
        (value,) = await queued.merge(conn, [queued.item])
        return value

    ok, value = await in_savepoint(conn, "write", one)
    return (True, value) if ok else (False, _as_store_error(cast(Exception, value)))


async def _run_merged(
    conn: Connection, group: list[_Queued], results: list[tuple[bool, Any]]
) -> bool:
    """Run `group` as one merged call; False (and nothing done) if one of its
    writes failed on its own account, so each must run alone to find which."""
    merge = group[0].merge
    assert merge is not None
    ok, values = await in_savepoint(
        conn, "merged", lambda: merge(conn, [queued.item for queued in group])
    )
    if not ok:
        return False
    assert isinstance(values, list)
    if len(values) != len(group):
        raise RuntimeError(f"a merged write gave {len(values)} results for {len(group)} items")
    results.extend((True, value) for value in values)
    return True


async def _rollback(conn: Connection) -> None:
    if conn.is_closed():
        return
    # The server may have ended the transaction already, or the connection is
    # going; either way the writer reconnects or the next BEGIN reports it.
    with contextlib.suppress(Exception):
        await conn.execute("ROLLBACK")


def _fail(batch: list[_Queued], error: StoreClosedError) -> None:
    for queued in batch:
        if not queued.future.done():
            queued.future.set_exception(error)


def _as_store_error(error: Exception) -> Exception:
    if isinstance(error, StoreError | ValueError | TypeError):
        return error
    wrapped = StoreError(str(error))
    wrapped.__cause__ = error
    return wrapped
