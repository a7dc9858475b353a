"""WAL checkpoints beside the writer process's commits, not inside them.

SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past
its bound (`WAL_CHECKPOINT_PAGES`): that commit copies the WAL's pages back
into the database and fsyncs it, and every write queued behind it waits.
Traced at 19,000 Kafka records/s, that was the whole latency tail: every 1.5
s a commit took 60-100 ms, and the records behind it waited as long.

So the writer process runs them on a thread and connection of their own,
after commits, at most every `INTERVAL_S`, as PASSIVE checkpoints: they take
no lock a writer needs, so commits go on into the WAL while the pages are
copied (the thread lets go of the GIL for the whole checkpoint). The writer's
own automatic checkpoint stays as the backstop, for a WAL that a reader kept
from being copied back in full.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from .base import StoreError
from .files import check_writable, close_if_writable

log = logging.getLogger("flowyard.store.checkpoints")

INTERVAL_S = 0.25
"""At most this often: a checkpoint copies each page once, however often it
changed in between."""


class Checkpointer:
    """Copies the WAL of the database at `path` back into it, after commits."""

    def __init__(self, path: str, *, busy_timeout_ms: int, interval_s: float = INTERVAL_S) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="flowd-store-checkpoints", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """A transaction was committed."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread; a checkpoint under way finishes first."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, conn: sqlite3.Connection) -> None:
        last = 0.0
        while True:
            self._wake.wait()
            self._wake.clear()  # before the check: `stop` sets the flag, then wakes
            if self._stopping:
                break
            pause = last + self._interval_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            last = time.monotonic()
            try:
                check_writable(self._path)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except StoreError:
                break  # the writer finds it too, and leaves its connection open
            except sqlite3.Error as error:
                log.warning("WAL checkpoint failed: %s", error)
        close_if_writable(conn, self._path)
