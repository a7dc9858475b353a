"""`ProcessCommitter`: `SQLiteStore`'s group commit, written by a child process.

The writer thread (`groupcommit.GroupCommitter`) shares the process, and so
the GIL and the objects' memory, with the event loop: with both busy on two
CPUs the loop spent nearly twice the CPU per Kafka record that it spends with
the writes stubbed out (docs/performance.md). Here the same transactions run in
a process of their own (`writer_child`), with the same batching, per-write
savepoints and results; the loop only encodes each write onto a pipe
(`writer_codec`) and resolves its caller's future when the transaction that
held it has committed.

Writes are answered in the order they were sent: the child takes them in that
order, and each transaction's answer says how many it held. The pipes are
widened to 1 MiB where the system allows (Linux), so that a fetch of a few
thousand records crosses without the child waiting for the loop to refill it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import pickle
import sys
from typing import Any

from .base import StoreClosedError, StoreError
from .groupcommit import Committer, Job, Outcome, fail_closed
from .writer_codec import HEADER, STOP, encode_job, frame

log = logging.getLogger("flowyard.store.writer")

F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20

CHILD = "flowyard.interpreter.store.writer_child"


class ProcessCommitter(Committer):
    """Serialises all writes to one SQLite file through a writer process."""

    def __init__(self, path: str, synchronous: str, *, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        super().__init__()
        self._path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._process: asyncio.subprocess.Process | None = None
        self._requests: asyncio.WriteTransport | None = None
        self._results: asyncio.StreamReader | None = None
        self._results_pipe: asyncio.BaseTransport | None = None
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The writer process's id, once started."""
        return None if self._process is None else self._process.pid

    async def start(self) -> bytes:
        """Start the writer process; the store's callback secret, once it has
        opened (created, migrated) the database."""
        loop = asyncio.get_running_loop()
        to_child, from_parent = os.pipe()
        from_child, to_parent = os.pipe()
        for fd in (from_parent, from_child):
            _widen(fd)
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                CHILD,
                self._path,
                self._synchronous,
                str(self._max_batch),
                str(os.getpid()),
                stdin=to_child,
                stdout=to_parent,
            )
        except BaseException:
            for fd in (to_child, from_parent, from_child, to_parent):
                os.close(fd)
            raise
        os.close(to_child)
        os.close(to_parent)
        self._results = asyncio.StreamReader(limit=1 << 30)
        results = self._results
        self._results_pipe, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(results), os.fdopen(from_child, "rb", 0)
        )
        self._requests, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(from_parent, "wb", 0)
        )
        try:
            first = await self._message()
        except asyncio.IncompleteReadError:
            first = ("unopened", None)
        if first[0] != "ready":
            self._closed = True  # not lost: it never started
            await self._ended()
            error = first[1]
            if isinstance(error, BaseException):
                raise error
            raise StoreClosedError(f"{self._path}: the store's writer process did not start")
        self._task = asyncio.create_task(self._read(), name="flowd-store-writer")
        return bytes(first[1])

    async def _enqueue(self, job: Job) -> Any:
        if self._closed or self._task is None or self._task.done():
            raise StoreClosedError("the store is closed")
        try:
            data = encode_job(job)
        except Exception as error:
            raise StoreError(
                f"a write that cannot be handed to the store's writer process: {error}"
            ) from error
        assert self._requests is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._requests.write(data)
        return await future

    async def close(self) -> None:
        """Finish every write sent, then let the writer process close the
        connection and end."""
        if self._closed:
            return
        self._closed = True
        if self._task is None:
            return
        assert self._requests is not None
        with contextlib.suppress(OSError, RuntimeError):
            self._requests.write(frame(STOP, b""))
        with contextlib.suppress(Exception):
            await self._task

    # --- answers -------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                try:
                    message = await self._message()
                except asyncio.IncompleteReadError:
                    break
                self._answer(message)
        except asyncio.CancelledError:
            # The loop is shutting down without closing the store: what is in
            # flight is rolled back with the writer.
            self._kill()
            await self._ended(StoreClosedError("the store was shut down"))
            raise
        except Exception:
            log.exception("%s: the store writer's answers could not be read", self._path)
            self._kill()
        await self._ended()

    async def _message(self) -> tuple[Any, ...]:
        assert self._results is not None
        (size,) = HEADER.unpack(await self._results.readexactly(HEADER.size))
        body = await self._results.readexactly(size)
        return tuple(pickle.loads(memoryview(body)[1:]))

    def _answer(self, message: tuple[Any, ...]) -> None:
        _, size, committed, results, error, cause = message
        futures = [self._waiting.popleft() for _ in range(size)]
        if error is not None and cause is not None:
            error.__cause__ = cause
        self._resolve(
            futures,
            Outcome(
                results=[(ok, _caused(value, why)) for ok, value, why in results],
                committed=committed,
                error=error,
            ),
        )

    async def _ended(self, error: StoreClosedError | None = None) -> None:
        """The writer process has ended (or is being ended): refuse new writes and
        fail those it never answered."""
        closing = self._closed
        self._closed = True
        for pipe in (self._requests, self._results_pipe):
            if pipe is not None:
                pipe.close()
        code = None
        if self._process is not None:
            code = await self._process.wait()
        if error is None:
            error = StoreClosedError(
                "the store is closed"
                if closing and code == 0
                else f"the store's writer process ended (exit code {code})"
            )
            if not closing:
                self._mark_lost(str(error))
                log.error("%s: %s", self._path, error)
        waiting = list(self._waiting)
        self._waiting.clear()
        fail_closed(waiting, error)

    def _kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()


def _caused(value: Any, cause: BaseException | None) -> Any:
    if cause is not None and isinstance(value, BaseException):
        value.__cause__ = cause
    return value


def _widen(fd: int) -> None:
    """Grow the pipe behind `fd` to `PIPE_BYTES` where the system allows it."""
    with contextlib.suppress(ImportError, OSError):
        import fcntl  # not on Windows

        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
