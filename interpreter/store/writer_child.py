"""The SQLite writer process: `SQLiteStore`'s writes, in a process of their own.

Started by `writer_process.ProcessCommitter` as

    python -m flowyard.interpreter.store.writer_child PATH SYNCHRONOUS MAX_BATCH PARENT_PID

it opens the writer connection (creating and migrating the database as the
writer thread does), says it is ready with the store's callback secret, then
reads frames of writes from stdin (`writer_codec`). It takes every write that
has arrived (up to MAX_BATCH) as one transaction, run by the same
`groupcommit.apply_jobs` the writer thread runs, so each write still fails
alone in its savepoint, and answers each transaction with one frame on stdout:
how many writes it held, whether it committed, and each write's result or
error. A stop frame, or the end of stdin, ends it once what came before is
written.

It dies with its parent (Linux: `PR_SET_PDEATHSIG`), so a flowd killed in the
middle of a transaction leaves it rolled back, as the writer thread's would be,
and a flowd started again never meets its predecessor's writer.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import signal
import sys
from functools import partial
from typing import Any, NoReturn, cast

from ..tuning import SERVING_THRESHOLDS
from .base import StoreError
from .checkpoints import Checkpointer
from .files import check_writable, close_if_writable
from .groupcommit import Job, Outcome, apply_checked
from .sqlite import BUSY_TIMEOUT_MS, Synchronous, open_writer
from .writer_codec import HEADER, STOP, decode_job, frame

PR_SET_PDEATHSIG = 1
READ_SIZE = 1 << 20

RESULT = b"R"


class _Refused:
    """A write whose frame could not be read: it fails alone, with why."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __call__(self, conn: object) -> NoReturn:
        raise StoreError(f"the write could not be handed to the writer process: {self._error}")


class Frames:
    """Frames read from a file descriptor, a batch at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._ended = False

    def next_batch(self, limit: int) -> tuple[list[Job], bool]:
        """Every write that has arrived (waiting for one), up to `limit`, and
        whether the stop frame (or the end of the input) came after them."""
        while not self._complete() and not self._ended:
            self._read(blocking=True)
        if not self._ended:
            self._read(blocking=False)
        jobs: list[Job] = []
        view = memoryview(self._buffer)
        at = 0
        stopping = False
        try:
            while len(jobs) < limit and len(view) - at >= HEADER.size:
                (size,) = HEADER.unpack_from(view, at)
                if len(view) - at - HEADER.size < size:
                    break
                tag = bytes(view[at + HEADER.size : at + HEADER.size + 1])
                body = view[at + HEADER.size + 1 : at + HEADER.size + size]
                at += HEADER.size + size
                if tag == STOP:
                    body.release()
                    stopping = True
                    break
                with body:
                    jobs.append(_decoded(tag, body))
        finally:
            view.release()
        del self._buffer[:at]
        return jobs, stopping or (self._ended and not self._complete())

    def _complete(self) -> bool:
        if len(self._buffer) < HEADER.size:
            return False
        size: int = HEADER.unpack_from(self._buffer)[0]
        return len(self._buffer) - HEADER.size >= size

    def _read(self, *, blocking: bool) -> None:
        os.set_blocking(self._fd, blocking)
        try:
            while True:
                chunk = os.read(self._fd, READ_SIZE)
                if not chunk:
                    self._ended = True
                    return
                self._buffer += chunk
                if blocking:
                    return
        except BlockingIOError:
            return


def _decoded(tag: bytes, body: memoryview) -> Job:
    try:
        return decode_job(tag, body)
    except Exception as error:  # an unknown write, say: only its caller hears of it
        return Job(_Refused(error))


def send(fd: int, message: tuple[Any, ...]) -> None:
    """Write `message` pickled, as one frame, to `fd`."""
    data = memoryview(frame(RESULT, _pickled(message)))
    while data:
        data = data[os.write(fd, data) :]


def _pickled(message: tuple[Any, ...]) -> bytes:
    try:
        return pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    except Exception:
        # A result or error that cannot be pickled goes back as its text.
        return pickle.dumps(tuple(_plain(part) for part in message), pickle.HIGHEST_PROTOCOL)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    try:
        pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception:
        if isinstance(value, BaseException):
            return StoreError(f"{type(value).__name__}: {value}")
        return StoreError(f"the writer's result cannot be handed back: {value!r}")
    return value


def outcome_message(size: int, outcome: Outcome) -> tuple[Any, ...]:
    """What the parent hears of a transaction of `size` writes: each result with
    the cause of an error (which pickling would drop)."""
    results = [
        (ok, value, None if ok else getattr(value, "__cause__", None))
        for ok, value in outcome.results
    ]
    error = outcome.error
    return ("batch", size, outcome.committed, results, error, getattr(error, "__cause__", None))


def die_with_parent(parent: int) -> None:
    """End this process when `parent` ends (Linux), or now if it has already."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str]) -> int:
    path, synchronous, max_batch, parent = argv[0], argv[1], int(argv[2]), int(argv[3])
    die_with_parent(parent)
    # The protocol owns stdin and stdout; anything printed goes to stderr.
    requests, results = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    with open(os.devnull, "rb") as nothing:
        os.dup2(nothing.fileno(), 0)
    try:
        conn, secret = open_writer(path, cast(Synchronous, synchronous))
    except BaseException as error:
        send(results, ("unopened", error))
        return 1
    send(results, ("ready", secret))
    gc.freeze()  # as flowd does: its garbage is freed by reference counting
    gc.set_threshold(*SERVING_THRESHOLDS)
    checkpoints = Checkpointer(path, busy_timeout_ms=BUSY_TIMEOUT_MS)
    checkpoints.start()
    frames = Frames(requests)
    while True:
        jobs, stopping = frames.next_batch(max_batch)
        if jobs:
            outcome = apply_checked(conn, jobs, partial(check_writable, path))
            send(results, outcome_message(len(jobs), outcome))
            if outcome.committed:
                checkpoints.committed()
        if stopping:
            break
    checkpoints.stop()
    unwritable = close_if_writable(conn, path)
    if unwritable is not None:
        # Finalizing the connection at exit would write to its files (see `files`).
        print(f"flowd store writer: the connection is left open: {unwritable}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
