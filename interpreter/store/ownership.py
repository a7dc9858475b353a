"""One writer per store file: `flowd run` owns its store while it runs.

The runtime keeps the inbox and the snapshots in memory on the understanding
that nobody else writes them; two flowd processes on one store would apply
inputs twice and contradict each other. The owner holds an exclusive `flock` on
`<store>.lock` (released by the kernel when the process dies, even by SIGKILL)
and writes its pid there, so the second comer is told who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from .files import open_private


class StoreBusyError(Exception):
    """Another process owns the store."""


class StoreOwnership:
    """The exclusive claim on one store file; `release` (or exit) gives it up."""

    def __init__(self, lock_file: IO[str], path: Path) -> None:
        self._file: IO[str] | None = lock_file
        self.path = path

    @classmethod
    def claim(cls, store_path: str | Path) -> StoreOwnership:
        """Own `store_path`, or raise `StoreBusyError` naming the owner's pid."""
        path = Path(f"{store_path}.lock")
        lock_file = os.fdopen(open_private(str(path)), "r+", encoding="utf-8")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            owner = lock_file.read().strip() or "another process"
            lock_file.close()
            raise StoreBusyError(
                f"the store {store_path} is in use by flowd (pid {owner})"
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        return cls(lock_file, path)

    def release(self) -> None:
        """Give the store up (idempotent)."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
        self._file.close()  # closing drops the flock
        self._file = None
