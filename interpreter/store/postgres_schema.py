"""The PostgreSQL schema, as numbered migrations applied in order on open.

The same tables as SQLite's (`sqlite_schema.py`), in PostgreSQL's types: JSON in
`json` columns (the text as written, so `\\u0000` and key order survive, which
`jsonb` would not keep), times in `bigint` milliseconds, ids from identity
columns (never reused, so the inbox id stays a global arrival order), text in
the "C" collation (byte order, as SQLite sorts: listings come out in the same
order on both stores whatever the database's locale).

`meta.schema_version` records how far a database has been migrated. Each
migration runs in its own transaction together with the version bump, under a
session-level advisory lock, so several `flowd` processes opening one
database at once migrate it once. A migration is a list of steps: SQL
statements, or coroutines given the connection (for what SQL cannot do, such
as computing rows' partitions in Python). Migrations are append-only: never
edit one that has shipped, add the next number.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .base import StoreError
from .partitions import DEFAULT_PARTITIONS, check_count, partition_of

MIGRATION_LOCK = 0x666C6F77  # "flow": the advisory lock held while migrating


@dataclass(frozen=True, slots=True)
class MigrationSettings:
    """What a migration needs beyond the database itself: the partition count to
    record in a database that has none yet (a new one, or one older than version 4)."""

    partitions: int = DEFAULT_PARTITIONS


MigrationStep = str | Callable[[Any, MigrationSettings], Awaitable[None]]
"""A SQL statement, or a coroutine run with the migration's connection and settings."""

_BACKFILL_CHUNK = 50_000  # keys per UPDATE: bounds the arrays sent at once


async def _record_partitions_and_backfill(conn: Any, settings: MigrationSettings) -> None:
    """Record the partition count and give the rows that belong to an instance
    their partition (of the instance key, `partitions.partition_of`)."""
    await conn.execute(
        "INSERT INTO meta (name, value) VALUES ('partitions', $1) ON CONFLICT (name) DO NOTHING",
        str(check_count(settings.partitions)),
    )
    count = int(await conn.fetchval("SELECT value FROM meta WHERE name = 'partitions'"))
    for table in ("inbox", "timers", "effect_calls"):
        keys = [r[0] for r in await conn.fetch(f"SELECT DISTINCT key FROM {table}")]
        for start in range(0, len(keys), _BACKFILL_CHUNK):
            chunk = keys[start : start + _BACKFILL_CHUNK]
            await conn.execute(
                f"UPDATE {table} AS t SET partition = u.partition "
                "FROM unnest($1::text[], $2::integer[]) AS u(key, partition) WHERE t.key = u.key",
                chunk,
                [partition_of(key, count) for key in chunk],
            )


MIGRATIONS: tuple[tuple[MigrationStep, ...], ...] = (
    # 1: everything SQLite's versions 1 and 2 hold.
    (
        """CREATE TABLE meta (
            name text COLLATE "C" PRIMARY KEY,
            value text COLLATE "C" NOT NULL
        )""",
        """CREATE TABLE instances (
            flow text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            ir_hash text COLLATE "C" NOT NULL,
            seq bigint NOT NULL,
            state text COLLATE "C" NOT NULL,
            status text COLLATE "C" NOT NULL,
            snapshot json NOT NULL,
            updated_ms bigint NOT NULL,
            PRIMARY KEY (flow, key)
        )""",
        "CREATE INDEX instances_by_status ON instances (status, flow)",
        "CREATE INDEX instances_by_state ON instances (flow, state)",
        """CREATE TABLE journal (
            flow text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            seq bigint NOT NULL,
            input json NOT NULL,
            trace json NOT NULL,
            at_ms bigint NOT NULL,
            PRIMARY KEY (flow, key, seq)
        )""",
        """CREATE TABLE inbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            flow text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            input json NOT NULL,
            received_ms bigint NOT NULL,
            not_before_ms bigint,
            source text COLLATE "C"
        )""",
        "CREATE INDEX inbox_by_key ON inbox (flow, key, id)",
        "CREATE INDEX inbox_delayed ON inbox (not_before_ms) WHERE not_before_ms IS NOT NULL",
        """CREATE TABLE sources (
            source text COLLATE "C" PRIMARY KEY,
            position bigint,
            updated_ms bigint NOT NULL
        )""",
        """CREATE TABLE timers (
            flow text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            timer_id text COLLATE "C" NOT NULL,
            due_ms bigint NOT NULL,
            PRIMARY KEY (flow, key, timer_id)
        )""",
        "CREATE INDEX timers_by_due ON timers (due_ms)",
        """CREATE TABLE dead_letters (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source text COLLATE "C" NOT NULL,
            topic text COLLATE "C",
            reason text COLLATE "C" NOT NULL,
            payload text COLLATE "C" NOT NULL,
            at_ms bigint NOT NULL
        )""",
        """CREATE TABLE ir_versions (
            hash text COLLATE "C" PRIMARY KEY,
            flow text COLLATE "C" NOT NULL,
            version text COLLATE "C" NOT NULL,
            ir json NOT NULL,
            loaded_ms bigint NOT NULL
        )""",
        # `created` orders calls made in the same millisecond, as SQLite's rowid does.
        """CREATE TABLE effect_calls (
            call_id text COLLATE "C" PRIMARY KEY,
            created bigint GENERATED ALWAYS AS IDENTITY,
            flow text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            effect text COLLATE "C" NOT NULL,
            request json NOT NULL,
            idempotency_key text COLLATE "C" NOT NULL,
            status text COLLATE "C" NOT NULL CHECK (status IN
                ('pending', 'running', 'succeeded', 'failed', 'awaiting_callback')),
            attempts integer NOT NULL DEFAULT 0,
            result json,
            error text COLLATE "C",
            callback_token text COLLATE "C" CONSTRAINT effect_calls_callback_token_key UNIQUE,
            next_attempt_ms bigint,
            created_ms bigint NOT NULL,
            updated_ms bigint NOT NULL
        )""",
        "CREATE INDEX effect_calls_by_status ON effect_calls (status)",
        "CREATE INDEX effect_calls_by_key ON effect_calls (flow, key)",
        """CREATE TABLE effect_attempts (
            call_id text COLLATE "C" NOT NULL REFERENCES effect_calls (call_id) ON DELETE CASCADE,
            attempt integer NOT NULL,
            idempotency_key text COLLATE "C" NOT NULL,
            started_ms bigint NOT NULL,
            finished_ms bigint,
            outcome text COLLATE "C",
            error text COLLATE "C",
            PRIMARY KEY (call_id, attempt)
        )""",
        """CREATE TABLE outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic text COLLATE "C" NOT NULL,
            key text COLLATE "C",
            value json NOT NULL,
            headers json NOT NULL,
            dedup_key text COLLATE "C" NOT NULL UNIQUE,
            created_ms bigint NOT NULL,
            sent_ms bigint
        )""",
        "CREATE INDEX outbox_pending ON outbox (id) WHERE sent_ms IS NULL",
        """CREATE TABLE embedded_log (
            "offset" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic text COLLATE "C" NOT NULL,
            key text COLLATE "C",
            value json NOT NULL,
            headers json NOT NULL,
            dedup_key text COLLATE "C",
            appended_ms bigint NOT NULL
        )""",
        'CREATE INDEX embedded_log_by_topic ON embedded_log (topic, "offset")',
    ),
    # 2: ownership. Each partition's current owner and epoch; a writer names the
    # epoch it holds, and a write transaction whose epoch is no longer current
    # is refused (see docs/scaling.md).
    (
        """CREATE TABLE partition_epochs (
            partition integer PRIMARY KEY,
            epoch bigint NOT NULL,
            owner text COLLATE "C" NOT NULL,
            claimed_ms bigint NOT NULL
        )""",
    ),
    # 3: each HTTP Idempotency-Key with the fingerprint of the request that
    # first used it (SQLite's version 3).
    (
        """CREATE TABLE idempotency_keys (
            key text COLLATE "C" PRIMARY KEY,
            fingerprint text NOT NULL,
            created_ms bigint NOT NULL
        )""",
    ),
    # 4: store partitions (docs/scaling.md). The rows that find work (inbox rows,
    # timers, effect calls, outbox rows) carry their instance's partition, so a
    # process reads only those of the partitions it holds; `meta.partitions` is
    # the count, fixed from here on. Outbox rows written before this version do
    # not name the instance that emitted them (their dedup key is a hash): they
    # go to partition 0, whose owner relays them.
    (
        "ALTER TABLE inbox ADD COLUMN partition integer",
        "ALTER TABLE timers ADD COLUMN partition integer",
        "ALTER TABLE effect_calls ADD COLUMN partition integer",
        "ALTER TABLE outbox ADD COLUMN partition integer NOT NULL DEFAULT 0",
        "ALTER TABLE outbox ALTER COLUMN partition DROP DEFAULT",
        _record_partitions_and_backfill,
        "ALTER TABLE inbox ALTER COLUMN partition SET NOT NULL",
        "ALTER TABLE timers ALTER COLUMN partition SET NOT NULL",
        "ALTER TABLE effect_calls ALTER COLUMN partition SET NOT NULL",
        # A key's rows by partition first: its inbox (`inbox_for` names the
        # partition too) and a partition's ready keys.
        "DROP INDEX inbox_by_key",
        "CREATE INDEX inbox_by_partition ON inbox (partition, flow, key, id)",
        "CREATE INDEX inbox_delayed_by_partition ON inbox (partition, not_before_ms) "
        "WHERE not_before_ms IS NOT NULL",
        # A partition's due timers in the order they fire, the cursor included.
        "CREATE INDEX timers_by_partition ON timers (partition, due_ms, flow, key, timer_id)",
        # Calls to resume, by status and then partition (the status counts still use it).
        "DROP INDEX effect_calls_by_status",
        "CREATE INDEX effect_calls_by_status ON effect_calls (status, partition)",
        "CREATE INDEX outbox_pending_by_partition ON outbox (partition, id) WHERE sent_ms IS NULL",
    ),
    # 5: the key of the Kafka record a dead letter was (SQLite's version 4).
    ("ALTER TABLE dead_letters ADD COLUMN record_key bytea",),
)

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code reads and writes."""


async def schema_version(conn: Any) -> int:
    """The version of the database behind `conn` (its search path); 0 when empty."""
    has_meta = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename = 'meta')"
    )
    if not has_meta:
        return 0
    value = await conn.fetchval("SELECT value FROM meta WHERE name = 'schema_version'")
    return 0 if value is None else int(value)


async def migrate(
    conn: Any,
    target: int = SCHEMA_VERSION,
    *,
    schema: str | None = None,
    settings: MigrationSettings | None = None,
) -> int:
    """Bring the database up to `target`, one transaction per migration, first
    creating `schema` if one is named (the connection's search path must name it);
    `settings` are used where the database has no value of its own yet.

    Returns the version found before migrating. Refuses a database newer than
    this code. Several processes may do this at once: a session-level advisory
    lock lets one at a time look and migrate (a lock taken inside the
    migration's transaction would not do: that transaction's catalog caches
    could predate the other process's tables).
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"no schema version {target}")
    settings = settings or MigrationSettings()
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        if schema is not None:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
        found = await schema_version(conn)
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the database is at schema version {found}, newer than this flowd "
                f"understands ({SCHEMA_VERSION}); upgrade flowd"
            )
        for version in range(found + 1, target + 1):
            async with conn.transaction():
                for step in MIGRATIONS[version - 1]:
                    if isinstance(step, str):
                        await conn.execute(step)
                    else:
                        await step(conn, settings)
                await conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', $1) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    str(version),
                )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return found


async def partition_count(conn: Any, asked: int | None, *, where: str) -> int:
    """The database's partition count (set when its schema was created or
    migrated to version 4); `StoreError` if `asked` is another one."""
    stored = int(await conn.fetchval("SELECT value FROM meta WHERE name = 'partitions'"))
    if asked is not None and asked != stored:
        raise StoreError(
            f"{where}: the store has {stored} partitions, not the {asked} asked for; a "
            f"schema's partition count is fixed when it is created: ask for {stored} (or "
            f"leave the count out), or start a new schema (?schema=NAME) for {asked}"
        )
    return stored


async def ensure_secret(conn: Any) -> bytes:
    """The callback-token secret, created at random on first use (the first of
    several processes opening a new database at once wins)."""
    await conn.execute(
        "INSERT INTO meta (name, value) VALUES ('callback_secret', $1) "
        "ON CONFLICT (name) DO NOTHING",
        secrets.token_hex(32),
    )
    secret = await conn.fetchval("SELECT value FROM meta WHERE name = 'callback_secret'")
    return bytes.fromhex(str(secret))


def quote_identifier(name: str) -> str:
    """`name` as a PostgreSQL identifier (a schema name from the command line)."""
    if not name or "\x00" in name:
        raise ValueError(f"not a usable schema name: {name!r}")
    return '"' + name.replace('"', '""') + '"'
