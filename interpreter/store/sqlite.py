"""`SQLiteStore`: the embedded `Store`, on one SQLite file in WAL mode.

All writes go through one `GroupCommitter` (a single writer connection on its
own thread, many writes per transaction). Reads use a second, read-only
connection through aiosqlite; WAL lets it read while the writer writes, so reads
never queue behind a batch and always see every write that has returned.

`SQLiteStore.open_read_only` opens only the reading connection, in SQLite's
read-only mode: it never creates, migrates or writes the database, so the admin
commands can read a store while a flowd runs on it; its writes raise `StoreError`.
(As any reader of a WAL database, SQLite may create the empty `-wal` and `-shm`
side files when no flowd has them open.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, cast, get_args

import aiosqlite

from . import sqlite_journal
from . import sqlite_rows as rows
from . import sqlite_snapshots as snapshots
from . import sqlite_writes as writes
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
from .files import check_writable, create_private, leave_open
from .groupcommit import Call, Committer, GroupCommitter
from .sqlite_schema import (
    SCHEMA_VERSION,
    STATUS_INDEXED,
    UNINDEXED_STATUS,
    ensure_secret,
    migrate,
)
from .writer_process import ProcessCommitter

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
"""SQLite's `PRAGMA synchronous`. In WAL mode: FULL fsyncs the WAL on every
commit (an acknowledged write survives power loss); NORMAL fsyncs only at
checkpoints (survives a process crash, may lose the last commits on power
loss); OFF never fsyncs (benchmarks only)."""

Writer = Literal["thread", "process"]
"""Where the store's writes run. `thread`: a thread of this process (the
default: nothing to start). `process`: a process of its own
(`writer_process`), which `flowd run` uses: the event loop then shares
neither the GIL nor its objects' memory with the writer, and spends some 40%
less CPU per record (docs/performance.md)."""

BUSY_TIMEOUT_MS = 5000

WRITER_CACHE_KIB = 64 * 1024
"""The writer's page cache (SQLite's default is 2 MiB), filled only as pages
are read: the pages of `instances` that commits rewrite at random places
outgrow 2 MiB at some 6,000 instances, and were then read from the file again
on every commit. (Measured when the journal still had an index by instance,
which outgrew 2 MiB within some 100,000 steps.)"""

WAL_CHECKPOINT_PAGES = 10_000
"""Pages (4 KiB) written to the WAL before the writer copies them back into the
database (SQLite's default: 1,000). The instances are rewritten at random
places by every commit; a checkpoint copies each page
once, however often it changed, so fewer, larger checkpoints copy less.
With `WRITER_CACHE_KIB`, `bench/kafka.py`'s (b) was 2% faster (32,900
against 32,100 records/s, the means of three alternate runs)."""

_KEYS_PER_READ = 1000
"""Keys per statement of `load_instances` (two parameters each)."""


def open_writer(path: str, synchronous: Synchronous) -> tuple[sqlite3.Connection, bytes]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: SQLite refused WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        migrate(conn)
        secret = ensure_secret(conn)
    except BaseException:
        conn.close()
        raise
    return conn, secret


async def _stop_without_closing(reader: aiosqlite.Connection) -> None:
    """End `reader`'s worker thread but keep its SQLite connection unclosed for
    the life of the process (aiosqlite offers no public way: `stop` closes it)."""
    connection = getattr(reader, "_connection", None)
    if connection is None:
        await reader.close()
        return
    leave_open(connection)
    reader._connection = None
    stopped = reader.stop()
    if stopped is not None:
        await stopped


async def _read_secret(path: str, reader: aiosqlite.Connection) -> bytes:
    """The callback secret of the database behind `reader`, after checking it
    is at the schema version this code reads (a read-only open cannot migrate)."""
    has_meta = await reader.execute_fetchall(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    )
    found = await reader.execute_fetchall(
        "SELECT name, value FROM meta WHERE name IN ('schema_version', 'callback_secret')"
        if has_meta
        else "SELECT NULL, NULL WHERE 0"
    )
    meta = {str(name): str(value) for name, value in found}
    version = int(meta.get("schema_version", "0"))
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the store is at schema version {version}, this flowd reads version "
            f"{SCHEMA_VERSION}: run this flowd on it once to migrate it, or upgrade flowd"
        )
    return bytes.fromhex(meta.get("callback_secret", ""))


async def _writer_thread(
    path: str, synchronous: Synchronous, max_batch: int
) -> tuple[GroupCommitter, bytes]:
    """A started writer thread on `path`, and the store's callback secret."""
    secret = b""

    def connect() -> sqlite3.Connection:
        nonlocal secret
        conn, secret = open_writer(path, synchronous)
        return conn

    committer = GroupCommitter(
        connect, max_batch=max_batch, before_batch=partial(check_writable, path)
    )
    try:
        await committer.start()
    except BaseException:
        await committer.close()
        raise
    return committer, secret


class SQLiteStore:
    """The SQLite implementation of `Store`. Open with `await SQLiteStore.open(path)`."""

    def __init__(
        self,
        path: str,
        committer: Committer | None,
        reader: aiosqlite.Connection,
        secret: bytes,
    ) -> None:
        self._path = path
        self._committer = committer
        self._reader = reader
        self._secret = secret

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        max_batch: int = 256,
        writer: Writer = "thread",
    ) -> SQLiteStore:
        """Open (creating if needed) and migrate the database at `path`.

        `synchronous` trades durability for speed (see `Synchronous`);
        `max_batch` bounds how many writes share one transaction; `writer`
        says where the writes run (see `Writer`).
        """
        target = str(path)
        if target == ":memory:" or target.startswith("file:"):
            raise ValueError("SQLiteStore needs a file path: its two connections share the file")
        if synchronous not in get_args(Synchronous):
            raise ValueError(f"synchronous must be one of {get_args(Synchronous)}")
        if writer not in get_args(Writer):
            raise ValueError(f"writer must be one of {get_args(Writer)}")
        create_private(target)
        committer: Committer | None = None
        reader: aiosqlite.Connection | None = None
        try:
            if writer == "process":
                started = ProcessCommitter(target, synchronous, max_batch=max_batch)
                committer = started
                secret = await started.start()
            else:
                committer, secret = await _writer_thread(target, synchronous, max_batch)
            reader = await aiosqlite.connect(target, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await reader.execute("PRAGMA query_only = ON")
        except BaseException as error:
            if reader is not None:
                await reader.close()
            if committer is not None:
                await committer.close()
            if isinstance(error, sqlite3.Error):
                raise StoreError(f"{target}: cannot open the store: {error}") from error
            raise
        return cls(target, committer, reader, secret)

    @classmethod
    async def open_read_only(cls, path: str | Path) -> SQLiteStore:
        """Open the existing database at `path` for reading only (SQLite's
        `mode=ro`, and `query_only`): nothing is created, migrated or written,
        and every write method raises `StoreError`. A flowd may run on it."""
        target = str(path)
        if target == ":memory:" or target.startswith("file:"):
            raise ValueError("SQLiteStore needs a file path")
        uri = Path(target).resolve().as_uri() + "?mode=ro"
        reader: aiosqlite.Connection | None = None
        try:
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await reader.execute("PRAGMA query_only = ON")
            secret = await _read_secret(target, reader)
        except BaseException as error:
            if reader is not None:
                await reader.close()
            if isinstance(error, sqlite3.Error):
                raise StoreError(f"{target}: cannot read the store: {error}") from error
            raise
        return cls(target, None, reader, secret)

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
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def callback_secret(self) -> bytes:
        """A random secret created on first open, for signing callback tokens."""
        return self._secret

    @property
    def read_only(self) -> bool:
        """Whether this store was opened with `open_read_only`."""
        return self._committer is None

    @property
    def stats(self) -> StoreStats:
        """Write counters since open."""
        if self._committer is None:
            return StoreStats(transactions=0, operations=0, largest_batch=0, failed_transactions=0)
        return self._committer.stats

    def _writer(self) -> Committer:
        if self._committer is None:
            raise StoreError(f"{self._path}: the store was opened read-only")
        return self._committer

    async def wait_lost(self) -> str:
        """Wait until the writer stops without the store being closed (its process
        was killed, say): why, for people. The store's writes fail from then on.
        Never returns for a read-only store."""
        if self._committer is None:
            await asyncio.Event().wait()
        assert self._committer is not None
        return await self._committer.wait_lost()

    async def close(self) -> None:
        """Finish queued writes and close both connections.

        When the store's files can no longer be written (see `files`), the
        connections are left open instead: SQLite writes the memory-mapped
        WAL index when the last one closes, which would end the process with
        SIGBUS."""
        try:
            if self._committer is not None:
                await self._committer.close()
        finally:
            try:
                check_writable(self._path)
            except StoreError:
                await _stop_without_closing(self._reader)
            else:
                await self._reader.close()

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
        call = writes.IngestCall(
            items=tuple(items),
            sources=tuple(sources),
            dead_letters=tuple(dead_letters),
            effect_updates=tuple(effect_updates),
            timers_fired=tuple(timers_fired),
            applied=tuple(applied),
        )
        return cast(IngestResult, await self._writer().submit_merged(call, writes.ingest))

    async def dead_letter(self, letter: DeadLetter) -> int:
        """See `Store.dead_letter`."""
        return await self._writer().submit(Call(writes.insert_dead_letter, (letter,)))

    async def refuse_input(self, flow: str, key: str, inbox_id: int, letter: DeadLetter) -> int:
        """See `Store.refuse_input`."""
        return await self._writer().submit(Call(writes.refuse_input, (flow, key, inbox_id, letter)))

    async def prune_sources(self, prefix: str, moved_before_ms: int, *, limit: int) -> int:
        """See `Store.prune_sources`."""
        return await self._writer().submit(
            Call(writes.prune_sources, (prefix, moved_before_ms, limit))
        )

    async def claim_idempotency_key(self, key: str, fingerprint: str, at_ms: int) -> str:
        """See `Store.claim_idempotency_key`."""
        return await self._writer().submit(
            Call(writes.claim_idempotency_key, (key, fingerprint, at_ms))
        )

    async def commit(self, commit: StepCommit) -> None:
        """See `Store.commit`."""
        await self._writer().submit_merged((commit,), writes.commit_turns)

    async def commit_steps(self, commits: Sequence[StepCommit]) -> None:
        """See `Store.commit_steps`."""
        await self._writer().submit_merged(tuple(commits), writes.commit_turns)

    async def record_attempt(
        self, attempt: EffectAttempt, update: EffectCallUpdate | None = None
    ) -> None:
        """See `Store.record_attempt`."""
        await self._writer().submit(Call(writes.record_attempt, (attempt, update)))

    async def update_effect_calls(self, updates: Sequence[EffectCallUpdate]) -> None:
        """See `Store.update_effect_calls`."""
        batch = tuple(updates)
        await self._writer().submit(Call(writes.update_effect_calls, (batch,)))

    async def mark_outbox_sent(
        self, ids: Sequence[int], *, sent_ms: int, append_to_log: bool
    ) -> list[int]:
        """See `Store.mark_outbox_sent`."""
        batch = tuple(ids)
        return await self._writer().submit(
            Call(writes.mark_outbox_sent, (batch, sent_ms, append_to_log))
        )

    async def save_ir(self, ir: IrVersion) -> None:
        """See `Store.save_ir`."""
        await self._writer().submit(Call(writes.save_ir, (ir,)))

    # --- reads -------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[rows.Row]:
        try:
            found = await self._reader.execute_fetchall(sql, tuple(params))
        except sqlite3.Error as error:
            raise StoreError(f"{self._path}: {error}") from error
        # No row factory is set, so the rows are plain tuples.
        return list(cast(Iterable[rows.Row], found))

    async def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        found = await self._fetch(sql, params)
        return found[0][0] if found else None

    @staticmethod
    def _limit(limit: int | None) -> str:
        return "" if limit is None else f" LIMIT {int(limit)}"

    async def load_instance(self, flow: str, key: str) -> InstanceRow | None:
        """See `Store.load_instance`."""
        found = await self._fetch(
            f"SELECT {snapshots.INSTANCE_SELECT} FROM {snapshots.INSTANCES} "
            "WHERE i.flow = ? AND i.key = ?",
            (flow, key),
        )
        return snapshots.stored_instance(found[0]) if found else None

    async def load_instances(self, keys: Sequence[tuple[str, str]]) -> list[InstanceRow]:
        """See `Store.load_instances`."""
        wanted = list(dict.fromkeys(keys))
        found: list[InstanceRow] = []
        for start in range(0, len(wanted), _KEYS_PER_READ):
            chunk = wanted[start : start + _KEYS_PER_READ]
            pairs = ", ".join(["(?, ?)"] * len(chunk))
            # A join from the wanted pairs: each is one lookup in the primary key.
            fetched = await self._fetch(
                f"WITH wanted (flow, key) AS (VALUES {pairs}) SELECT {snapshots.INSTANCE_SELECT} "
                f"FROM wanted CROSS JOIN {snapshots.INSTANCES} "
                "WHERE i.flow = wanted.flow AND i.key = wanted.key",
                [part for kid in chunk for part in kid],
            )
            found.extend(snapshots.stored_instance(r) for r in fetched)
        return found

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
        where, params = _filters(("flow", flow), ("state", state), ("status", status))
        if status is not None and status != UNINDEXED_STATUS:
            where += f" AND {STATUS_INDEXED}"  # lets the planner use the partial index
        if after_key is not None:
            where += (" AND" if where else " WHERE") + " key > ?"
            params.append(after_key)
        found = await self._fetch(
            f"SELECT {snapshots.INSTANCE_SELECT} FROM {snapshots.INSTANCES}{where} "
            "ORDER BY i.flow, i.key" + self._limit(limit),
            params,
        )
        return [snapshots.stored_instance(r) for r in found]

    async def journal(self, flow: str, key: str, *, after_seq: int = -1) -> list[JournalEntry]:
        """See `Store.journal`."""
        found = await self._fetch(sqlite_journal.READ_SQL, (flow, key, after_seq, after_seq))
        return [rows.journal_entry(r) for r in found]

    async def inbox_for(
        self, flow: str, key: str, now_ms: int | None = None, limit: int | None = None
    ) -> list[InboxRow]:
        """See `Store.inbox_for`."""
        sql = f"SELECT {rows.INBOX_COLUMNS} FROM inbox WHERE flow = ? AND key = ?"
        params: list[Any] = [flow, key]
        if now_ms is not None:
            sql += " AND (not_before_ms IS NULL OR not_before_ms <= ?)"
            params.append(now_ms)
        found = await self._fetch(sql + " ORDER BY id" + self._limit(limit), params)
        return [rows.inbox_row(r) for r in found]

    async def keys_with_ready_inbox(
        self, now_ms: int, limit: int | None = None, *, partitions: Sequence[int] | None = None
    ) -> list[tuple[str, str]]:
        """See `Store.keys_with_ready_inbox`; SQLite has no partitions: every key."""
        found = await self._fetch(
            "SELECT flow, key, min(id) AS first FROM inbox "
            "WHERE not_before_ms IS NULL OR not_before_ms <= ? "
            "GROUP BY flow, key ORDER BY first" + self._limit(limit),
            (now_ms,),
        )
        return [(r[0], r[1]) for r in found]

    async def next_not_before_ms(self, after_ms: int | None = None) -> int | None:
        """See `Store.next_not_before_ms`."""
        if after_ms is None:
            value = await self._scalar("SELECT min(not_before_ms) FROM inbox")
        else:
            value = await self._scalar(
                "SELECT min(not_before_ms) FROM inbox WHERE not_before_ms > ?", (after_ms,)
            )
        return None if value is None else int(value)

    async def due_timers(
        self, now_ms: int, limit: int | None = None, *, after: TimerRow | None = None
    ) -> list[TimerRow]:
        """See `Store.due_timers`."""
        sql = f"SELECT {rows.TIMER_COLUMNS} FROM timers WHERE due_ms <= ?"
        params: list[Any] = [now_ms]
        if after is not None:
            # The first condition lets the index on due_ms start at the cursor.
            sql += " AND due_ms >= ? AND (due_ms, flow, key, timer_id) > (?, ?, ?, ?)"
            params += [after.due_ms, after.due_ms, after.flow, after.key, after.timer_id]
        found = await self._fetch(
            sql + " ORDER BY due_ms, flow, key, timer_id" + self._limit(limit), params
        )
        return [rows.timer_row(r) for r in found]

    async def next_timer_due(self) -> int | None:
        """See `Store.next_timer_due`."""
        value = await self._scalar("SELECT min(due_ms) FROM timers")
        return None if value is None else int(value)

    async def timers_for(self, flow: str, key: str) -> list[TimerRow]:
        """See `Store.timers_for`."""
        found = await self._fetch(
            f"SELECT {rows.TIMER_COLUMNS} FROM timers WHERE flow = ? AND key = ? "
            "ORDER BY due_ms, timer_id",
            (flow, key),
        )
        return [rows.timer_row(r) for r in found]

    async def effect_call(self, call_id: str) -> EffectCallRow | None:
        """See `Store.effect_call`."""
        found = await self._fetch(
            f"SELECT {rows.EFFECT_CALL_COLUMNS} FROM effect_calls WHERE call_id = ?", (call_id,)
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
        """See `Store.effect_calls`; SQLite has no partitions: every call."""
        where, params = _filters(("flow", flow), ("key", key))
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            where += (" AND " if where else " WHERE ") + f"status IN ({_marks(len(wanted))})"
            params.extend(wanted)
        found = await self._fetch(
            f"SELECT {rows.EFFECT_CALL_COLUMNS} FROM effect_calls{where} "
            "ORDER BY created_ms, rowid",
            params,
        )
        return [rows.effect_call_row(r) for r in found]

    async def call_by_token(self, token: str) -> EffectCallRow | None:
        """See `Store.call_by_token`."""
        found = await self._fetch(
            f"SELECT {rows.EFFECT_CALL_COLUMNS} FROM effect_calls WHERE callback_token = ?",
            (token,),
        )
        return rows.effect_call_row(found[0]) if found else None

    async def attempts(self, call_id: str) -> list[EffectAttempt]:
        """See `Store.attempts`."""
        found = await self._fetch(
            f"SELECT {rows.ATTEMPT_COLUMNS} FROM effect_attempts WHERE call_id = ? "
            "ORDER BY attempt",
            (call_id,),
        )
        return [rows.attempt_row(r) for r in found]

    async def pending_outbox(self, limit: int | None = None) -> list[OutboxRow]:
        """See `Store.pending_outbox`."""
        found = await self._fetch(
            f"SELECT {rows.OUTBOX_COLUMNS} FROM outbox WHERE sent_ms IS NULL ORDER BY id"
            + self._limit(limit)
        )
        return [rows.outbox_row(r) for r in found]

    async def read_log(
        self, topic: str, after_offset: int = -1, limit: int | None = None
    ) -> list[LogRecord]:
        """See `Store.read_log`."""
        found = await self._fetch(
            f'SELECT {rows.LOG_COLUMNS} FROM embedded_log WHERE topic = ? AND "offset" > ? '
            'ORDER BY "offset"' + self._limit(limit),
            (topic, after_offset),
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
            f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id > ? ORDER BY id"
            + self._limit(limit),
            (after_id,),
        )
        return [rows.dead_letter_row(r) for r in found]

    async def source_position(self, source: str) -> SourcePosition | None:
        """See `Store.source_position`."""
        found = await self._fetch(
            "SELECT source, position, updated_ms FROM sources WHERE source = ?", (source,)
        )
        return rows.source_position(found[0]) if found else None

    async def load_irs(self, flow: str | None = None) -> list[IrVersion]:
        """See `Store.load_irs`."""
        where, params = _filters(("flow", flow))
        found = await self._fetch(
            f"SELECT {rows.IR_COLUMNS} FROM ir_versions{where} ORDER BY loaded_ms, hash", params
        )
        return [rows.ir_version(r) for r in found]

    async def gauges(self, now_ms: int) -> StoreGauges:
        """See `Store.gauges`."""
        counts = await self._fetch(rows.GAUGE_COUNTS.format(now="?1"), (now_ms,))
        return rows.store_gauges(
            await self._fetch(rows.GAUGE_INSTANCES), counts[0], await self._fetch(rows.GAUGE_CALLS)
        )


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _filters(*pairs: tuple[str, str | None]) -> tuple[str, list[Any]]:
    """`WHERE a = ? AND b = ?` for the pairs whose value is given."""
    given = [(column, value) for column, value in pairs if value is not None]
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in given), [v for _, v in given]


if TYPE_CHECKING:
    # mypy proves here that SQLiteStore implements the Store protocol.
    def _implements_store(store: SQLiteStore) -> Store:
        return store
