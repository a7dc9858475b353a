"""When each transition became visible in flowd's SQLite journal, seen from outside.

A thread reads the journal rows added since its last read every few
milliseconds, through its own read-only connection (WAL: readers see only
committed transactions), and keeps, for each row, the time it first saw it
minus the produce timestamp of the record the row applied (`meta.timestamp`
of the journaled input). That is a record's produce-to-committed latency,
over-stated by at most one poll interval and one read; flowd is not asked
anything and does no extra work for it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

POLL_S = 0.005

_NEW_ROWS = (
    "SELECT rowid, json_extract(input, '$.meta.timestamp') FROM journal "
    "WHERE rowid > ? ORDER BY rowid"
)


class JournalWatch:
    """Produce-to-committed latencies (ms) of the journal rows of `db`, as seen."""

    def __init__(self, db: Path) -> None:
        self._db = db
        self._last_rowid = 0
        self._latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="journal-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[float]:
        """Stop watching after one last read; the latencies seen, in journal order."""
        self._stop.set()
        self._thread.join(timeout=30)
        return self._latencies

    def _watch(self) -> None:
        while not self._db.exists() and not self._stop.wait(POLL_S):
            pass
        conn = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True, check_same_thread=False)
        try:
            while True:
                stopping = self._stop.is_set()
                self._read(conn)
                if stopping:
                    return
                self._stop.wait(POLL_S)
        finally:
            conn.close()

    def _read(self, conn: sqlite3.Connection) -> None:
        try:
            rows = conn.execute(_NEW_ROWS, (self._last_rowid,)).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return
        seen_ms = time.time() * 1000
        for rowid, produced_ms in rows:
            self._last_rowid = rowid
            if produced_ms is not None:
                self._latencies.append(seen_ms - produced_ms)
