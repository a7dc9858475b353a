"""`PostgresStore`: the `Store` on PostgreSQL, for flowd processes sharing a database.

All writes go through one `PgGroupCommitter` (one writer connection, many
writes per transaction, batched statements). Reads use a small pool of other
connections, so they never queue behind a batch; every write that has
returned is committed, so the next read sees it.

Open with `await PostgresStore.open("postgresql://user@host/db")`. `schema`
puts the tables in that PostgreSQL schema (created if missing), so several
stores can share one database (tests give each test its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import asyncpg

from . import postgres_fence as fencing
from . import postgres_writes as writes
from . import sqlite_rows as rows
from .base import (
    DeadLetter,
    DeadLetterRow,
    EffectAttempt,
    EffectCallRow,
    EffectCallUpdate,
    EffectStatus,
    InboxItem,
    InboxRow,
    IngestResult,
    InstanceRow,
    IrVersion,
    JournalEntry,
    LogRecord,
    OutboxRow,
    SourcePosition,
    StepCommit,
    Store,
    StoreError,
    StoreGauges,
    StoreStats,
    TimerRow,
)
from .postgres_commit import Connection, PgGroupCommitter
from .postgres_schema import ensure_secret, migrate, quote_identifier
from .targets import display

READ_POOL_SIZE = 4
_INSTANCE_COLUMNS_OF_I = ", ".join(f"i.{c.strip()}" for c in rows.INSTANCE_COLUMNS.split(","))
CONNECT_TIMEOUT_S = 10.0
IDLE_IN_TRANSACTION_MS = 10_000


class PostgresStore:
    """The PostgreSQL implementation of `Store`."""

    def __init__(
        self,
        dsn: str,
        committer: PgGroupCommitter,
        reader: Any,
        secret: bytes,
        *,
        schema: str | None,
        fence: fencing.EpochFence,
    ) -> None:
        self._dsn = dsn
        self._committer = committer
        self._fence = fence
        self._reader = reader
        self._secret = secret
        self.schema = schema

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        max_batch: int = 256,
        idle_in_transaction_ms: int = IDLE_IN_TRANSACTION_MS,
    ) -> PostgresStore:
        """Connect to `dsn`, migrate its schema, and start the writer.

        `schema` (created if missing) holds the tables instead of the
        connection's default search path; `max_batch` bounds how many writes
        share one transaction; the server aborts a write transaction left idle
        for `idle_in_transaction_ms` (its writer paused or hung).
        """
        settings = {} if schema is None else {"search_path": quote_identifier(schema)}
        # A writer paused with a transaction open (SIGSTOP, a VM stall) holds its
        # partitions' epoch rows; the server ends such a session after this
        # long, so a new owner's claim waits at most that (see postgres_fence.py).
        writer_settings = {
            **settings,
            "idle_in_transaction_session_timeout": str(idle_in_transaction_ms),
        }
        where = display(dsn)
        secret = b""

        async def connect() -> Connection:
            return await asyncpg.connect(
                dsn, timeout=CONNECT_TIMEOUT_S, server_settings=writer_settings
            )

        async def first_connect() -> Connection:
            nonlocal secret
            conn = await connect()
            try:
                await migrate(conn, schema=schema)
                secret = await ensure_secret(conn)
            except BaseException:
                await conn.close()
                raise
            return conn

        fence = fencing.EpochFence()
        committer = PgGroupCommitter(first_connect, max_batch=max_batch, fence=fence)
        reader: Any = None
        try:
            await committer.start()
            committer.reconnect_with(connect)
            reader = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=READ_POOL_SIZE,
                timeout=CONNECT_TIMEOUT_S,
                server_settings=settings or None,
            )
        except BaseException as error:
            if reader is not None:
                await reader.close()
            await committer.close()
            if isinstance(error, asyncpg.PostgresError | OSError | asyncpg.InterfaceError):
                raise StoreError(f"{where}: cannot open the store: {error}") from error
            if isinstance(error, TimeoutError):
                raise StoreError(f"{where}: cannot open the store: no answer in time") from error
            raise
        return cls(dsn, committer, reader, secret, schema=schema, fence=fence)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The database, without its password."""
        return display(self._dsn)

    @property
    def callback_secret(self) -> bytes:
        """A random secret created on first open, for signing callback tokens."""
        return self._secret

    @property
    def stats(self) -> StoreStats:
        """Write counters since open."""
        return self._committer.stats

    async def close(self) -> None:
        """Finish queued writes and close every connection."""
        try:
            await self._committer.close()
        finally:
            await self._reader.close()

    # --- ownership ---------------------------------------------------------------

    async def claim_partitions(
        self, owner: str, partitions: Sequence[int], *, at_ms: int
    ) -> dict[int, int]:
        """Take `partitions` over (their epochs go up, fencing their last holders)
        and check them in every write transaction from now on. Returns
        partition -> the epoch now held. A store holding no partitions checks
        nothing: one owner for everything."""
        async with self._reader.acquire() as conn:
            epochs = await fencing.claim(conn, owner, partitions, at_ms)
        self._fence.held.update(epochs)
        return epochs

    def release_partitions(self, partitions: Sequence[int]) -> None:
        """Stop writing for `partitions` (given up, or lost: `FencedError.lost`);
        their next owner's claim fences them anyway."""
        for partition in partitions:
            self._fence.held.pop(partition, None)

    @property
    def held_partitions(self) -> dict[int, int]:
        """The partitions this store writes for, and the epoch it holds each at."""
        return dict(self._fence.held)

    async def partition_holders(self) -> dict[int, fencing.EpochHolder]:
        """Every partition's current epoch and owner, as stored."""
        async with self._reader.acquire() as conn:
            return await fencing.holders(conn)

    # --- writes ------------------------------------------------------------------

    async def ingest(
        self,
        items: Sequence[InboxItem],
        sources: Sequence[SourcePosition] = (),
        *,
        dead_letters: Sequence[DeadLetter] = (),
        effect_updates: Sequence[EffectCallUpdate] = (),
        timers_fired: Sequence[TimerRow] = (),
        applied: Sequence[StepCommit | None] = (),
    ) -> IngestResult:
        """See `Store.ingest`."""
        if applied and len(applied) != len(items):
            raise ValueError(f"{len(applied)} applied steps given for {len(items)} items")
        call = writes.IngestCall(
            items=tuple(items),
            sources=tuple(sources),
            dead_letters=tuple(dead_letters),
            effect_updates=tuple(effect_updates),
            timers_fired=tuple(timers_fired),
            applied=tuple(applied),
        )
        return cast(IngestResult, await self._committer.submit_merged(call, writes.ingest))

    async def dead_letter(self, letter: DeadLetter) -> int:
        """See `Store.dead_letter`."""
        return await self._committer.submit(lambda conn: writes.insert_dead_letter(conn, letter))

    async def refuse_input(self, flow: str, key: str, inbox_id: int, letter: DeadLetter) -> int:
        """See `Store.refuse_input`."""
        return await self._committer.submit(
            lambda conn: writes.refuse_input(conn, flow, key, inbox_id, letter)
        )

    async def claim_idempotency_key(self, key: str, fingerprint: str, at_ms: int) -> str:
        """See `Store.claim_idempotency_key`."""
        return cast(
            str,
            await self._committer.submit(
                lambda conn: writes.claim_idempotency_key(conn, key, fingerprint, at_ms)
            ),
        )

    async def commit(self, commit: StepCommit) -> None:
        """See `Store.commit`."""
        await self._committer.submit_merged((commit,), writes.commit_turns)

    async def commit_steps(self, commits: Sequence[StepCommit]) -> None:
        """See `Store.commit_steps`."""
        await self._committer.submit_merged(tuple(commits), writes.commit_turns)

    async def record_attempt(
        self, attempt: EffectAttempt, update: EffectCallUpdate | None = None
    ) -> None:
        """See `Store.record_attempt`."""
        await self._committer.submit(lambda conn: writes.record_attempt(conn, attempt, update))

    async def update_effect_calls(self, updates: Sequence[EffectCallUpdate]) -> None:
        """See `Store.update_effect_calls`."""
        batch = tuple(updates)
        await self._committer.submit(lambda conn: writes.update_effect_calls(conn, batch))

    async def mark_outbox_sent(
        self, ids: Sequence[int], *, sent_ms: int, append_to_log: bool
    ) -> list[int]:
        """See `Store.mark_outbox_sent`."""
        batch = tuple(ids)
        return await self._committer.submit(
            lambda conn: writes.mark_outbox_sent(conn, batch, sent_ms, append_to_log)
        )

    async def save_ir(self, ir: IrVersion) -> None:
        """See `Store.save_ir`."""
        await self._committer.submit(lambda conn: writes.save_ir(conn, ir))

    # --- reads -------------------------------------------------------------------

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        try:
            return list(await self._reader.fetch(sql, *params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            raise StoreError(f"{self.url}: {error}") from error

    async def _scalar(self, sql: str, *params: Any) -> Any:
        found = await self._fetch(sql, *params)
        return found[0][0] if found else None

    async def load_instance(self, flow: str, key: str) -> InstanceRow | None:
        """See `Store.load_instance`."""
        found = await self._fetch(
            f"SELECT {rows.INSTANCE_COLUMNS} FROM instances WHERE flow = $1 AND key = $2",
            flow,
            key,
        )
        return rows.instance_row(found[0]) if found else None

    async def load_instances(self, keys: Sequence[tuple[str, str]]) -> list[InstanceRow]:
        """See `Store.load_instances`: one statement, the keys as two arrays."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        found = await self._fetch(
            f"SELECT {_INSTANCE_COLUMNS_OF_I} FROM unnest($1::text[], $2::text[]) "
            "AS w(flow, key) JOIN instances AS i ON i.flow = w.flow AND i.key = w.key",
            [flow for flow, _ in wanted],
            [key for _, key in wanted],
        )
        return [rows.instance_row(r) for r in found]

    async def instances(
        self,
        flow: str | None = None,
        *,
        state: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        after_key: str | None = None,
    ) -> list[InstanceRow]:
        """See `Store.instances`."""
        found = await self._fetch(
            f"SELECT {rows.INSTANCE_COLUMNS} FROM instances "
            "WHERE ($1::text IS NULL OR flow = $1) AND ($2::text IS NULL OR state = $2) "
            "AND ($3::text IS NULL OR status = $3) AND ($5::text IS NULL OR key > $5) "
            "ORDER BY flow, key LIMIT $4",
            flow,
            state,
            status,
            limit,
            after_key,
        )
        return [rows.instance_row(r) for r in found]

    async def journal(self, flow: str, key: str, *, after_seq: int = -1) -> list[JournalEntry]:
        """See `Store.journal`."""
        found = await self._fetch(
            f"SELECT {rows.JOURNAL_COLUMNS} FROM journal "
            "WHERE flow = $1 AND key = $2 AND seq > $3 ORDER BY seq",
            flow,
            key,
            after_seq,
        )
        return [rows.journal_entry(r) for r in found]

    async def inbox_for(
        self, flow: str, key: str, now_ms: int | None = None, limit: int | None = None
    ) -> list[InboxRow]:
        """See `Store.inbox_for`."""
        found = await self._fetch(
            f"SELECT {rows.INBOX_COLUMNS} FROM inbox WHERE flow = $1 AND key = $2 "
            "AND ($3::bigint IS NULL OR not_before_ms IS NULL OR not_before_ms <= $3) "
            "ORDER BY id LIMIT $4",
            flow,
            key,
            now_ms,
            limit,
        )
        return [rows.inbox_row(r) for r in found]

    async def keys_with_ready_inbox(
        self, now_ms: int, limit: int | None = None
    ) -> list[tuple[str, str]]:
        """See `Store.keys_with_ready_inbox`."""
        found = await self._fetch(
            "SELECT flow, key, min(id) AS first FROM inbox "
            "WHERE not_before_ms IS NULL OR not_before_ms <= $1 "
            "GROUP BY flow, key ORDER BY first LIMIT $2",
            now_ms,
            limit,
        )
        return [(r[0], r[1]) for r in found]

    async def next_not_before_ms(self, after_ms: int | None = None) -> int | None:
        """See `Store.next_not_before_ms`."""
        value = await self._scalar(
            "SELECT min(not_before_ms) FROM inbox WHERE $1::bigint IS NULL OR not_before_ms > $1",
            after_ms,
        )
        return None if value is None else int(value)

    async def due_timers(
        self, now_ms: int, limit: int | None = None, *, after: TimerRow | None = None
    ) -> list[TimerRow]:
        """See `Store.due_timers`."""
        if after is None:
            found = await self._fetch(
                f"SELECT {rows.TIMER_COLUMNS} FROM timers WHERE due_ms <= $1 "
                "ORDER BY due_ms, flow, key, timer_id LIMIT $2",
                now_ms,
                limit,
            )
        else:
            # The first condition lets the index on due_ms start at the cursor.
            found = await self._fetch(
                f"SELECT {rows.TIMER_COLUMNS} FROM timers WHERE due_ms <= $1 AND due_ms >= $3 "
                "AND (due_ms, flow, key, timer_id) > ($3, $4, $5, $6) "
                "ORDER BY due_ms, flow, key, timer_id LIMIT $2",
                now_ms,
                limit,
                after.due_ms,
                after.flow,
                after.key,
                after.timer_id,
            )
        return [rows.timer_row(r) for r in found]

    async def next_timer_due(self) -> int | None:
        """See `Store.next_timer_due`."""
        value = await self._scalar("SELECT min(due_ms) FROM timers")
        return None if value is None else int(value)

    async def timers_for(self, flow: str, key: str) -> list[TimerRow]:
        """See `Store.timers_for`."""
        found = await self._fetch(
            f"SELECT {rows.TIMER_COLUMNS} FROM timers WHERE flow = $1 AND key = $2 "
            "ORDER BY due_ms, timer_id",
            flow,
            key,
        )
        return [rows.timer_row(r) for r in found]

    async def effect_call(self, call_id: str) -> EffectCallRow | None:
        """See `Store.effect_call`."""
        found = await self._fetch(
            f"SELECT {rows.EFFECT_CALL_COLUMNS} FROM effect_calls WHERE call_id = $1", call_id
        )
        return rows.effect_call_row(found[0]) if found else None

    async def effect_calls(
        self,
        status: EffectStatus | Sequence[EffectStatus] | None = None,
        *,
        flow: str | None = None,
        key: str | None = None,
    ) -> list[EffectCallRow]:
        """See `Store.effect_calls`."""
        wanted = None if status is None else [status] if isinstance(status, str) else list(status)
        found = await self._fetch(
            f"SELECT {rows.EFFECT_CALL_COLUMNS} FROM effect_calls "
            "WHERE ($1::text IS NULL OR flow = $1) AND ($2::text IS NULL OR key = $2) "
            "AND ($3::text[] IS NULL OR status = ANY($3)) ORDER BY created_ms, created",
            flow,
            key,
            wanted,
        )
        return [rows.effect_call_row(r) for r in found]

    async def call_by_token(self, token: str) -> EffectCallRow | None:
        """See `Store.call_by_token`."""
        found = await self._fetch(
            f"SELECT {rows.EFFECT_CALL_COLUMNS} FROM effect_calls WHERE callback_token = $1",
            token,
        )
        return rows.effect_call_row(found[0]) if found else None

    async def attempts(self, call_id: str) -> list[EffectAttempt]:
        """See `Store.attempts`."""
        found = await self._fetch(
            f"SELECT {rows.ATTEMPT_COLUMNS} FROM effect_attempts WHERE call_id = $1 "
            "ORDER BY attempt",
            call_id,
        )
        return [rows.attempt_row(r) for r in found]

    async def pending_outbox(self, limit: int | None = None) -> list[OutboxRow]:
        """See `Store.pending_outbox`."""
        found = await self._fetch(
            f"SELECT {rows.OUTBOX_COLUMNS} FROM outbox WHERE sent_ms IS NULL ORDER BY id LIMIT $1",
            limit,
        )
        return [rows.outbox_row(r) for r in found]

    async def read_log(
        self, topic: str, after_offset: int = -1, limit: int | None = None
    ) -> list[LogRecord]:
        """See `Store.read_log`."""
        found = await self._fetch(
            f'SELECT {rows.LOG_COLUMNS} FROM embedded_log WHERE topic = $1 AND "offset" > $2 '
            'ORDER BY "offset" LIMIT $3',
            topic,
            after_offset,
            limit,
        )
        return [rows.log_record(r) for r in found]

    async def log_end_offset(self) -> int:
        """See `Store.log_end_offset`."""
        value = await self._scalar('SELECT max("offset") FROM embedded_log')
        return -1 if value is None else int(value)

    async def dead_letters(
        self, limit: int | None = None, *, after_id: int = 0
    ) -> list[DeadLetterRow]:
        """See `Store.dead_letters`."""
        found = await self._fetch(
            f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id > $2 "
            "ORDER BY id LIMIT $1",
            limit,
            after_id,
        )
        return [rows.dead_letter_row(r) for r in found]

    async def source_position(self, source: str) -> SourcePosition | None:
        """See `Store.source_position`."""
        found = await self._fetch(
            "SELECT source, position, updated_ms FROM sources WHERE source = $1", source
        )
        return rows.source_position(found[0]) if found else None

    async def load_irs(self, flow: str | None = None) -> list[IrVersion]:
        """See `Store.load_irs`."""
        found = await self._fetch(
            f"SELECT {rows.IR_COLUMNS} FROM ir_versions WHERE $1::text IS NULL OR flow = $1 "
            "ORDER BY loaded_ms, hash",
            flow,
        )
        return [rows.ir_version(r) for r in found]

    async def gauges(self, now_ms: int) -> StoreGauges:
        """See `Store.gauges`."""
        counts = await self._fetch(rows.GAUGE_COUNTS.format(now="$1"), now_ms)
        return rows.store_gauges(
            await self._fetch(rows.GAUGE_INSTANCES), counts[0], await self._fetch(rows.GAUGE_CALLS)
        )


if TYPE_CHECKING:
    # mypy proves here that PostgresStore implements the Store protocol.
    def _implements_store(store: PostgresStore) -> Store:
        return store
