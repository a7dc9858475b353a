"""The store's files on disk: created private, and checked writable before writing.

The store holds the secret that signs callback tokens, so its files are
created readable by their owner only (0600): the database, and through it
SQLite's `-wal` and `-shm` (SQLite gives them the database's mode), and the
`.lock` file. An existing file keeps its mode.

In WAL mode SQLite memory-maps the `-shm` file (the WAL index) whatever
`PRAGMA mmap_size` says (it is 0 here: the database itself is read with
plain I/O). When a file is made read-only underneath a running flowd (`chattr
+i`, a remount), a write through that mapping cannot be refused with an error
code: the kernel kills the process with SIGBUS, and nothing is logged.
`check_writable` is called on the writer thread before every transaction: it
turns that situation into a `StoreError` naming the file, so writes fail with
a clear reason (503s, retries) instead of the process dying. A file made
read-only between the check and the write can still end the process; the
check makes that window a single transaction wide.
"""

from __future__ import annotations

import os
import sqlite3

from .base import StoreError

PRIVATE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm")


def create_private(path: str) -> None:
    """Create `path` empty with mode 0600 if it does not exist (SQLite then
    creates its `-wal` and `-shm` with the same mode); `StoreError` if it cannot."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the store: {exc.strerror}") from None


def open_private(path: str) -> int:
    """A read-write descriptor on `path`, created 0600 if it does not exist."""
    return os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)


_LEFT_OPEN: list[object] = []


def leave_open(connection: object) -> None:
    """Keep `connection` (a SQLite connection) from being closed or finalized:
    closing the last connection checkpoints, writing the WAL index, which
    SIGBUSes when its file cannot be written. The process must then end with
    `os._exit` (see `left_open`), as finalizing it at exit would close it."""
    _LEFT_OPEN.append(connection)


def left_open() -> bool:
    """Whether some connection was left open (`leave_open`): the process should
    end with `os._exit`, without finalizing objects."""
    return bool(_LEFT_OPEN)


def close_if_writable(connection: sqlite3.Connection, path: str) -> StoreError | None:
    """Close `connection` to the database at `path`; unless its files can no
    longer be written: then leave it open (`leave_open`) and say why."""
    try:
        check_writable(path)
    except StoreError as error:
        leave_open(connection)
        return error
    connection.close()
    return None


def check_writable(path: str) -> None:
    """Raise `StoreError` unless the database at `path` and its `-wal` and
    `-shm` files (those that exist) can be written."""
    for suffix in SQLITE_SUFFIXES:
        name = path + suffix
        if not os.access(name, os.W_OK) and os.path.exists(name):
            raise StoreError(
                f"the store file {name} cannot be written (made read-only or immutable, "
                "e.g. by chattr +i?); flowd stops writing rather than risk a crash: "
                "make it writable again (chattr -i) or stop flowd"
            )
