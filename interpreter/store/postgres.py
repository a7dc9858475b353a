"""`PostgresStore`: the `Store` on PostgreSQL, for flowd processes sharing a database.

All writes go through one `PgGroupCommitter` (one writer connection, many
writes per transaction, batched statements). Reads use a small pool of other
connections, so they never queue behind a batch; every write that has
returned is committed, so the next read sees it.

Open with `await PostgresStore.open("postgresql://user@host/db")`. `schema`
puts the tables in that PostgreSQL schema (created if missing), so several
stores can share one database (tests give each test its own).

Partitioned mode (`partitioned=True`: several processes share the schema, each
stepping the instances of the partitions it holds, docs/scaling.md): the reads
that find work cover the held partitions only, steps of instances of other
partitions are refused, and inbox rows stored for partitions held elsewhere
are announced by `NOTIFY` (`listen_inbox` hears them).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import asyncpg

from . import postgres_fence as fencing
from . import postgres_timer_reads as timer_reads
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
from .partitions import check_count
from .postgres_commit import Connection, PgGroupCommitter
from .postgres_listen import InboxCallback, InboxListener
from .postgres_partitions import StorePartitions, inbox_channel
from .postgres_schema import (
    MigrationSettings,
    ensure_secret,
    migrate,
    partition_count,
    quote_identifier,
)
from .targets import display

READ_POOL_SIZE = 4
_INSTANCE_COLUMNS_OF_I = ", ".join(f"i.{c.strip()}" for c in rows.INSTANCE_COLUMNS.split(","))
CONNECT_TIMEOUT_S = 10.0
IDLE_IN_TRANSACTION_MS = 10_000


async def _nothing(_conn: Connection) -> None:
    return None


def new_owner_id() -> str:
    """An id no other store object has: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


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
        partitions: StorePartitions,
    ) -> None:
        self._dsn = dsn
        self._committer = committer
        self._fence = fence
        self._reader = reader
        self._secret = secret
        self._partitions = partitions
        self._listener: InboxListener | None = None
        self.schema = schema
        # Made once: the committer merges adjacent writes whose merge `is` the same.
        self._ingest = functools.partial(writes.ingest, parts=partitions)
        self._commit_turns = functools.partial(writes.commit_turns, parts=partitions)

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        max_batch: int = 256,
        idle_in_transaction_ms: int = IDLE_IN_TRANSACTION_MS,
        partitioned: bool = False,
        partitions: int | None = None,
    ) -> PostgresStore:
        """Connect to `dsn`, migrate its schema, and start the writer.

        `schema` (created if missing) holds the tables instead of the
        connection's default search path; `max_batch` bounds how many writes
        share one transaction; the server aborts a write transaction left idle
        for `idle_in_transaction_ms` (its writer paused or hung).

        `partitioned`: this store is one of several processes sharing the
        schema (see the module's docstring). `partitions` is the partition
        count of a new schema (default `partitions.DEFAULT_PARTITIONS`); an
        existing schema keeps its own, and asking for another is a `StoreError`.
        """
        if partitions is not None:
            check_count(partitions)
        migration = MigrationSettings() if partitions is None else MigrationSettings(partitions)
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
        count = 0
        schema_name = schema or ""

        async def connect() -> Connection:
            return await asyncpg.connect(
                dsn, timeout=CONNECT_TIMEOUT_S, server_settings=writer_settings
            )

        async def first_connect() -> Connection:
            nonlocal secret, count, schema_name
            conn = await connect()
            try:
                await migrate(conn, schema=schema, settings=migration)
                count = await partition_count(conn, partitions, where=where)
                secret = await ensure_secret(conn)
                schema_name = schema_name or str(await conn.fetchval("SELECT current_schema()"))
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
        parts = StorePartitions(
            count,
            partitioned=partitioned,
            owner_id=new_owner_id(),
            channel=inbox_channel(schema_name),
            fence=fence,
        )
        return cls(dsn, committer, reader, secret, schema=schema, fence=fence, partitions=parts)

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
        """Finish queued writes and close every connection (the listener's too)."""
        try:
            if self._listener is not None:
                await self._listener.close()
            await self._committer.close()
        finally:
            await self._reader.close()

    # --- partitions ---------------------------------------------------------------

    @property
    def partitioned(self) -> bool:
        """Whether this store is one of several processes sharing the schema."""
        return self._partitions.partitioned

    @property
    def partition_count(self) -> int:
        """The schema's number of partitions (fixed when it was created)."""
        return self._partitions.count

    def partition_of(self, key: str) -> int:
        """The partition of instance `key` (Kafka's default partitioner on the key)."""
        return self._partitions.of(key)

    @property
    def owner_id(self) -> str:
        """This store object's id: the owner in its claims, the sender of its
        notifications (`host:pid:random`)."""
        return self._partitions.owner_id

    @property
    def inbox_channel(self) -> str:
        """The schema's `LISTEN` channel for inbox notifications."""
        return self._partitions.channel

    def on_fenced(self, callback: Callable[[Mapping[int, fencing.EpochHolder]], None]) -> None:
        """Call `callback(lost)` when a write transaction is refused because
        partitions moved on (`lost`: partition -> its epoch and owner now). The
        lost partitions are dropped from `held_partitions()` first, so the next
        transaction goes through for the others; the failed batch's callers
        get the `FencedError`."""
        self._fence.on_fenced(callback)

    async def listen_inbox(
        self, callback: InboxCallback, *, on_reconnect: Callable[[], None] | None = None
    ) -> None:
        """Hear of inbox rows stored by other processes for partitions they do
        not hold: `callback(partition, [(flow, key), ...])` for each notification
        not sent by this store (an empty list: rows whose keys were too long
        to name; read the partition's inbox). Returns once listening; a lost
        connection is reopened, then `on_reconnect()` is called (notifications
        sent meanwhile are lost: read the held partitions' inboxes). `close`
        stops it."""
        if self._listener is not None:
            raise RuntimeError("this store is listening already")
        settings = {"application_name": f"flowd pid {os.getpid()} inbox listener"}

        async def connect() -> Connection:
            return await asyncpg.connect(
                self._dsn, timeout=CONNECT_TIMEOUT_S, server_settings=settings
            )

        listener = InboxListener(
            connect,
            channel=self._partitions.channel,
            owner_id=self._partitions.owner_id,
            callback=callback,
            on_reconnect=on_reconnect,
            where=self.url,
        )
        await listener.start()
        self._listener = listener

    # --- ownership ---------------------------------------------------------------

    async def claim_partitions(
        self, owner: str, partitions: Sequence[int], *, at_ms: int
    ) -> dict[int, int]:
        """Take `partitions` over (their epochs go up, fencing their last holders)
        and check them in every write transaction from now on. Returns
        partition -> the epoch now held. A store holding no partitions checks
        nothing: one owner for everything."""
        beyond = [p for p in partitions if p >= self.partition_count]
        if beyond:
            raise ValueError(
                f"no partition {beyond[0]}: the store has {self.partition_count} (0 to "
                f"{self.partition_count - 1})"
            )
        async with self._reader.acquire() as conn:
            epochs = await fencing.claim(conn, owner, partitions, at_ms)
        self._fence.held.update(epochs)
        return epochs

    def release_partitions(self, partitions: Sequence[int]) -> None:
        """Stop writing for `partitions` (given up, or lost: `FencedError.lost`);
        their next owner's claim fences them anyway."""
        for partition in partitions:
            self._fence.held.pop(partition, None)

    def held_partitions(self) -> dict[int, int]:
        """The partitions this store writes for, and the epoch it holds each at."""
        return dict(self._fence.held)

    async def partition_holders(self) -> dict[int, fencing.EpochHolder]:
        """Every partition's current epoch and owner, as stored."""
        async with self._reader.acquire() as conn:
            return await fencing.holders(conn)

    async def partition_report(self) -> list[fencing.PartitionReport]:
        """Every partition's holder, epoch and backlog (`flowd partitions`)."""
        async with self._reader.acquire() as conn:
            return await fencing.report(conn, self.partition_count)

    # --- writes ------------------------------------------------------------------

    async def barrier(self) -> None:
        """Return once every write queued before this call has committed or
        failed (a partition given up: nothing of it is still on its way)."""
        with contextlib.suppress(StoreError):
            await self._committer.submit(_nothing)

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
        return cast(IngestResult, await self._committer.submit_merged(call, self._ingest))

    async def dead_letter(self, letter: DeadLetter) -> int:
        """See `Store.dead_letter`."""
        return await self._committer.submit(lambda conn: writes.insert_dead_letter(conn, letter))

    async def refuse_input(self, flow: str, key: str, inbox_id: int, letter: DeadLetter) -> int:
        """See `Store.refuse_input`."""
        return await self._committer.submit(
            lambda conn: writes.refuse_input(conn, flow, key, inbox_id, letter)
        )

    async def prune_sources(self, prefix: str, moved_before_ms: int, *, limit: int) -> int:
        """See `Store.prune_sources`."""
        return cast(
            int,
            await self._committer.submit(
                lambda conn: writes.prune_sources(conn, prefix, moved_before_ms, limit)
            ),
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
        await self._committer.submit_merged((commit,), self._commit_turns)

    async def commit_steps(self, commits: Sequence[StepCommit]) -> None:
        """See `Store.commit_steps`."""
        await self._committer.submit_merged(tuple(commits), self._commit_turns)

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
            f"SELECT {rows.INBOX_COLUMNS} FROM inbox WHERE partition = $5 AND flow = $1 "
            "AND key = $2 "
            "AND ($3::bigint IS NULL OR not_before_ms IS NULL OR not_before_ms <= $3) "
            "ORDER BY id LIMIT $4",
            flow,
            key,
            now_ms,
            limit,
            self.partition_of(key),
        )
        return [rows.inbox_row(r) for r in found]

    # The reads that find work (ready inboxes, due timers, calls to resume, the
    # outbox) take `partitions`: only those partitions' rows. Left out, a
    # partitioned store reads the partitions it holds (none held: nothing),
    # any other store reads everything.

    async def keys_with_ready_inbox(
        self, now_ms: int, limit: int | None = None, *, partitions: Sequence[int] | None = None
    ) -> list[tuple[str, str]]:
        """See `Store.keys_with_ready_inbox`."""
        scope = self._partitions.read_scope(partitions)
        if scope is None:
            found = await self._fetch(
                "SELECT flow, key, min(id) AS first FROM inbox "
                "WHERE not_before_ms IS NULL OR not_before_ms <= $1 "
                "GROUP BY flow, key ORDER BY first LIMIT $2",
                now_ms,
                limit,
            )
        elif scope:
            found = await self._fetch(
                "SELECT flow, key, min(id) AS first FROM inbox "
                "WHERE partition = ANY($3::integer[]) "
                "AND (not_before_ms IS NULL OR not_before_ms <= $1) "
                "GROUP BY flow, key ORDER BY first LIMIT $2",
                now_ms,
                limit,
                scope,
            )
        else:
            return []
        return [(r[0], r[1]) for r in found]

    async def next_not_before_ms(
        self, after_ms: int | None = None, *, partitions: Sequence[int] | None = None
    ) -> int | None:
        """See `Store.next_not_before_ms`."""
        scope = self._partitions.read_scope(partitions)
        if scope is None:
            value = await self._scalar(
                "SELECT min(not_before_ms) FROM inbox "
                "WHERE $1::bigint IS NULL OR not_before_ms > $1",
                after_ms,
            )
        elif scope:
            # Each partition's earliest by its index, then the least of those.
            after = "" if after_ms is None else "AND not_before_ms > $2 "
            value = await self._scalar(
                "SELECT min(first.at) FROM unnest($1::integer[]) AS p(partition), LATERAL "
                "(SELECT not_before_ms AS at FROM inbox WHERE inbox.partition = p.partition "
                f"AND not_before_ms IS NOT NULL {after}ORDER BY not_before_ms LIMIT 1) AS first",
                scope,
                *([] if after_ms is None else [after_ms]),
            )
        else:
            return None
        return None if value is None else int(value)

    async def due_timers(
        self,
        now_ms: int,
        limit: int | None = None,
        *,
        after: TimerRow | None = None,
        partitions: Sequence[int] | None = None,
    ) -> list[TimerRow]:
        """See `Store.due_timers`."""
        scope = self._partitions.read_scope(partitions)
        return await timer_reads.due_timers(self._fetch, scope, now_ms, limit, after)

    async def next_timer_due(self, *, partitions: Sequence[int] | None = None) -> int | None:
        """See `Store.next_timer_due`."""
        scope = self._partitions.read_scope(partitions)
        return await timer_reads.next_timer_due(self._scalar, scope)

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
        partitions: Sequence[int] | None = None,
    ) -> list[EffectCallRow]:
        """See `Store.effect_calls`. A partitioned store asked for calls by status
        (those to resume) reads the partitions it holds unless told `partitions`."""
        wanted = None if status is None else [status] if isinstance(status, str) else list(status)
        scope = (
            self._partitions.read_scope(partitions)
            if partitions is not None or wanted is not None
            else None
        )
        if scope == []:
            return []
        in_scope = "" if scope is None else "AND partition = ANY($4::integer[]) "
        found = await self._fetch(
            f"SELECT {rows.EFFECT_CALL_COLUMNS} FROM effect_calls "
            "WHERE ($1::text IS NULL OR flow = $1) AND ($2::text IS NULL OR key = $2) "
            f"AND ($3::text[] IS NULL OR status = ANY($3)) {in_scope}"
            "ORDER BY created_ms, created",
            flow,
            key,
            wanted,
            *([] if scope is None else [scope]),
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

    async def pending_outbox(
        self, limit: int | None = None, *, partitions: Sequence[int] | None = None
    ) -> list[OutboxRow]:
        """See `Store.pending_outbox`."""
        scope = self._partitions.read_scope(partitions)
        if scope is None:
            found = await self._fetch(
                f"SELECT {rows.OUTBOX_COLUMNS} FROM outbox WHERE sent_ms IS NULL "
                "ORDER BY id LIMIT $1",
                limit,
            )
        elif scope:
            found = await self._fetch(
                f"SELECT {rows.OUTBOX_COLUMNS} FROM outbox WHERE sent_ms IS NULL "
                "AND partition = ANY($2::integer[]) ORDER BY id LIMIT $1",
                limit,
                scope,
            )
        else:
            return []
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
        """See `Store.dead_letters`. Partitioned, the letters read are every
        letter numbered up to the highest read (`_read_numbered_prefix`), so a
        reader going on after that number (the dead-letter relay) misses none."""
        sql = (
            f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id > $2 "
            "ORDER BY id LIMIT $1"
        )
        if self.partitioned:
            found = await self._read_numbered_prefix("dead_letters", sql, limit, after_id)
        else:
            found = await self._fetch(sql, limit, after_id)
        return [rows.dead_letter_row(r) for r in found]

    async def _read_numbered_prefix(self, table: str, sql: str, *params: Any) -> list[Any]:
        """Run `sql` (a read of `table`) once every row numbered so far is committed.

        Several processes number `table`'s rows from one sequence and may commit
        them out of number order. A transaction that has taken a number holds
        ROW EXCLUSIVE on the table from before it took it; a SHARE lock waits
        for all of them to end and holds back new ones until this read ends.
        The wait is as long as the writers' transactions in flight."""
        try:
            async with self._reader.acquire() as conn, conn.transaction():
                await conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
                return list(await conn.fetch(sql, *params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            raise StoreError(f"{self.url}: {error}") from error

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
