"""The SQLite schema, as numbered migrations applied in order on open.

`meta.schema_version` records how far a database has been migrated. Each
migration runs in its own transaction together with the version bump, so a
crash mid-migration leaves the database at the previous version. Migrations are
append-only: never edit one that has shipped, add the next number.
"""

from __future__ import annotations

import secrets
import sqlite3

from .base import StoreError

UNINDEXED_STATUS = "active"
"""The status `instances_by_status` leaves out (migration 6)."""
STATUS_INDEXED = f"status <> '{UNINDEXED_STATUS}'"
"""The condition of the partial index `instances_by_status`."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: instances, their journal and inbox, timers, sources, dead letters, IRs.
    (
        """CREATE TABLE meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE instances (
            flow TEXT NOT NULL,
            key TEXT NOT NULL,
            ir_hash TEXT NOT NULL,
            seq INTEGER NOT NULL,
            state TEXT NOT NULL,
            status TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            updated_ms INTEGER NOT NULL,
            PRIMARY KEY (flow, key)
        )""",
        "CREATE INDEX instances_by_status ON instances (status, flow)",
        "CREATE INDEX instances_by_state ON instances (flow, state)",
        """CREATE TABLE journal (
            flow TEXT NOT NULL,
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            input TEXT NOT NULL,
            trace TEXT NOT NULL,
            at_ms INTEGER NOT NULL,
            PRIMARY KEY (flow, key, seq)
        )""",
        # AUTOINCREMENT: an id is never reused, so it is a global arrival order
        # even after the newest rows are consumed.
        """CREATE TABLE inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            flow TEXT NOT NULL,
            key TEXT NOT NULL,
            input TEXT NOT NULL,
            received_ms INTEGER NOT NULL,
            not_before_ms INTEGER,
            source TEXT
        )""",
        "CREATE INDEX inbox_by_key ON inbox (flow, key, id)",
        "CREATE INDEX inbox_delayed ON inbox (not_before_ms) WHERE not_before_ms IS NOT NULL",
        """CREATE TABLE sources (
            source TEXT PRIMARY KEY,
            position INTEGER,
            updated_ms INTEGER NOT NULL
        )""",
        """CREATE TABLE timers (
            flow TEXT NOT NULL,
            key TEXT NOT NULL,
            timer_id TEXT NOT NULL,
            due_ms INTEGER NOT NULL,
            PRIMARY KEY (flow, key, timer_id)
        )""",
        "CREATE INDEX timers_by_due ON timers (due_ms)",
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            topic TEXT,
            reason TEXT NOT NULL,
            payload TEXT NOT NULL,
            at_ms INTEGER NOT NULL
        )""",
        """CREATE TABLE ir_versions (
            hash TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            version TEXT NOT NULL,
            ir TEXT NOT NULL,
            loaded_ms INTEGER NOT NULL
        )""",
    ),
    # 2: effect calls and their attempts, the outbox and the embedded log.
    (
        """CREATE TABLE effect_calls (
            call_id TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            key TEXT NOT NULL,
            effect TEXT NOT NULL,
            request TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN
                ('pending', 'running', 'succeeded', 'failed', 'awaiting_callback')),
            attempts INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT,
            callback_token TEXT UNIQUE,
            next_attempt_ms INTEGER,
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        )""",
        "CREATE INDEX effect_calls_by_status ON effect_calls (status)",
        "CREATE INDEX effect_calls_by_key ON effect_calls (flow, key)",
        """CREATE TABLE effect_attempts (
            call_id TEXT NOT NULL REFERENCES effect_calls (call_id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL,
            idempotency_key TEXT NOT NULL,
            started_ms INTEGER NOT NULL,
            finished_ms INTEGER,
            outcome TEXT,
            error TEXT,
            PRIMARY KEY (call_id, attempt)
        )""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            key TEXT,
            value TEXT NOT NULL,
            headers TEXT NOT NULL,
            dedup_key TEXT NOT NULL UNIQUE,
            created_ms INTEGER NOT NULL,
            sent_ms INTEGER
        )""",
        "CREATE INDEX outbox_pending ON outbox (id) WHERE sent_ms IS NULL",
        """CREATE TABLE embedded_log (
            "offset" INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            key TEXT,
            value TEXT NOT NULL,
            headers TEXT NOT NULL,
            dedup_key TEXT,
            appended_ms INTEGER NOT NULL
        )""",
        'CREATE INDEX embedded_log_by_topic ON embedded_log (topic, "offset")',
    ),
    # 3: each HTTP Idempotency-Key with the fingerprint of the request that
    # first used it, so reuse for another request is refused after a restart too.
    (
        """CREATE TABLE idempotency_keys (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            created_ms INTEGER NOT NULL
        )""",
    ),
    # 4: the key of the Kafka record a dead letter was (its bytes, as read).
    ("ALTER TABLE dead_letters ADD COLUMN record_key BLOB",),
    # 5: the journal without its index by instance: each entry links to its
    # instance's entry before it, and the instance to its newest (see
    # sqlite_journal.py). The ids are the rowids entries had, in arrival order.
    (
        "ALTER TABLE instances ADD COLUMN journal_head INTEGER",
        """UPDATE instances SET journal_head = (
            SELECT j.rowid FROM journal AS j
            WHERE j.flow = instances.flow AND j.key = instances.key
            ORDER BY j.seq DESC LIMIT 1
        )""",
        """CREATE TABLE journal_linked (
            id INTEGER PRIMARY KEY,
            flow TEXT NOT NULL,
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            input TEXT NOT NULL,
            trace TEXT NOT NULL,
            at_ms INTEGER NOT NULL,
            prev_id INTEGER
        )""",
        """INSERT INTO journal_linked (id, flow, key, seq, input, trace, at_ms, prev_id)
        SELECT rowid, flow, key, seq, input, trace, at_ms,
            lag(rowid) OVER (PARTITION BY flow, key ORDER BY seq)
        FROM journal ORDER BY rowid""",
        "DROP TABLE journal",
        "ALTER TABLE journal_linked RENAME TO journal",
    ),
    # 6: the status index leaves out active instances (most of them, and the
    # status nearly every step keeps): SQLite rewrites an index entry whenever
    # an UPDATE sets one of its columns, even to the value it had, and each
    # step's snapshot upsert sets them all. A query for another status names
    # the index's condition to use it (`STATUS_INDEXED`).
    (
        "DROP INDEX instances_by_status",
        f"CREATE INDEX instances_by_status ON instances (status, flow) WHERE {STATUS_INDEXED}",
    ),
    # 7: smaller instance rows (see `sqlite_snapshots`): the IR hash interned as a
    # number, and room for snapshots in their compact form.
    (
        """CREATE TABLE ir_names (
            id INTEGER PRIMARY KEY,
            ir_hash TEXT NOT NULL UNIQUE
        )""",
        "INSERT INTO ir_names (ir_hash) SELECT DISTINCT ir_hash FROM instances ORDER BY ir_hash",
        """CREATE TABLE instances_compact (
            flow TEXT NOT NULL,
            key TEXT NOT NULL,
            ir INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            state TEXT NOT NULL,
            status TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            compact INTEGER NOT NULL DEFAULT 0,
            updated_ms INTEGER NOT NULL,
            journal_head INTEGER,
            PRIMARY KEY (flow, key)
        )""",
        """INSERT INTO instances_compact
            (flow, key, ir, seq, state, status, snapshot, updated_ms, journal_head)
        SELECT i.flow, i.key, n.id, i.seq, i.state, i.status, i.snapshot, i.updated_ms,
            i.journal_head
        FROM instances AS i JOIN ir_names AS n ON n.ir_hash = i.ir_hash
        ORDER BY i.flow, i.key""",
        "DROP TABLE instances",
        "ALTER TABLE instances_compact RENAME TO instances",
        f"CREATE INDEX instances_by_status ON instances (status, flow) WHERE {STATUS_INDEXED}",
        "CREATE INDEX instances_by_state ON instances (flow, state)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code reads and writes."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The version of the database behind `conn`; 0 when it is empty."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to `target`, one transaction per migration.

    `conn` must be in autocommit mode (`isolation_level=None`). Returns the
    version found before migrating. Refuses a database newer than this code.
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"no schema version {target}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
    finally:
        conn.execute("ROLLBACK")
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the database is at schema version {found}, newer than this flowd "
            f"understands ({SCHEMA_VERSION}); upgrade flowd"
        )
    for version in range(found + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if schema_version(conn) >= version:
                conn.execute("ROLLBACK")
                continue
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return found


def ensure_secret(conn: sqlite3.Connection) -> bytes:
    """The callback-token secret, created at random on first use."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE name = 'callback_secret'").fetchone()
        if row is None:
            secret = secrets.token_hex(32)
            conn.execute("INSERT INTO meta (name, value) VALUES ('callback_secret', ?)", (secret,))
        else:
            secret = str(row[0])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return bytes.fromhex(secret)
