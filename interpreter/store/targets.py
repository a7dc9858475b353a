"""What `--store` names: a SQLite file, or a PostgreSQL database; opening and owning it.

`--store flowd.db` is a SQLite file; `--store postgresql://user@host:5432/db`
(or `postgres://`) is a PostgreSQL database. flowd's own URL parameter
`schema=NAME` puts the tables in that PostgreSQL schema (created if missing)
and is taken out before connecting; every other parameter goes to asyncpg.

`claim_store` gives the runtime sole ownership of the store while it runs
(the runtime keeps inboxes and snapshots in memory): a `flock` for a SQLite
file (`ownership.py`), a session-level advisory lock for a PostgreSQL schema.
Both are released by the system when the process dies, even by SIGKILL.
`claim_store(..., shared=True)` is for partitioned processes (PostgreSQL
only): the same lock taken shared, so they run side by side, each owning the
partitions it claims, while a solo flowd (exclusive) and they exclude each other.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .base import StoreError
from .ownership import StoreBusyError, StoreOwnership
from .sqlite import SQLiteStore, Synchronous, Writer

if TYPE_CHECKING:
    from .postgres import PostgresStore

CONNECT_TIMEOUT_S = 10.0
OWNER_LOCK = 0x666C6F78  # "flox": with the schema's hash, the owner's advisory lock


def is_postgres_url(target: str | Path) -> bool:
    """Whether `target` (a `--store` value) names a PostgreSQL database."""
    return str(target).startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """A `--store postgresql://...` value, split into what asyncpg gets and the schema."""

    dsn: str
    schema: str | None

    @classmethod
    def parse(cls, url: str) -> PostgresTarget:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [value for name, value in query if name == "schema"]
        rest = [(name, value) for name, value in query if name != "schema"]
        if len(schemas) > 1 or (schemas and not schemas[0]):
            raise ValueError(f"{display(url)}: give one non-empty schema=NAME")
        dsn = urlunsplit(parts._replace(query=urlencode(rest)))
        return cls(dsn, schemas[0] if schemas else None)


def display(target: str | Path) -> str:
    """`target` as shown to people: a PostgreSQL URL without its password."""
    text = str(target)
    if not is_postgres_url(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def open_store(
    target: str | Path,
    *,
    synchronous: Synchronous = "FULL",
    writer: Writer = "thread",
    partitioned: bool = False,
    partitions: int | None = None,
) -> SQLiteStore | PostgresStore:
    """Open the store `target` names (`synchronous` and `writer` concern SQLite only:
    PostgreSQL's durability is the server's `synchronous_commit`; `partitioned`
    and `partitions` PostgreSQL only: see `PostgresStore.open`)."""
    if is_postgres_url(target):
        from .postgres import PostgresStore

        parsed = PostgresTarget.parse(str(target))
        return await PostgresStore.open(
            parsed.dsn, schema=parsed.schema, partitioned=partitioned, partitions=partitions
        )
    if partitioned or partitions is not None:
        raise StoreError(_needs_postgres(target))
    return await SQLiteStore.open(target, synchronous=synchronous, writer=writer)


def _needs_postgres(target: str | Path) -> str:
    return (
        f"the store {target} is a SQLite file: partitioned mode (several flowd processes "
        "sharing one store) needs PostgreSQL (--store postgresql://...)"
    )


async def open_store_for_reading(target: str | Path) -> SQLiteStore | PostgresStore:
    """Open the store `target` names only to read it, while a flowd may run on
    it: a SQLite file read-only (never created, migrated or written); a
    PostgreSQL database as `open_store` does (the server isolates readers)."""
    if is_postgres_url(target):
        return await open_store(target)
    return await SQLiteStore.open_read_only(target)


def store_exists(target: str | Path) -> bool:
    """Whether there is a store to read at `target` (a PostgreSQL database is
    asked when opened; a SQLite file must exist)."""
    return is_postgres_url(target) or Path(target).is_file()


class StoreClaim(Protocol):
    """Sole ownership of a store, until released."""

    async def release(self) -> None:
        """Give the store up (idempotent)."""
        ...


class _FileClaim:
    def __init__(self, ownership: StoreOwnership) -> None:
        self._ownership = ownership

    async def release(self) -> None:
        self._ownership.release()


class PostgresClaim:
    """A session-level advisory lock on one schema, on a connection of its own:
    exclusive for a solo flowd, shared among partitioned ones."""

    def __init__(self, conn: Any) -> None:
        self._conn: Any = conn

    @classmethod
    async def claim(cls, url: str, *, shared: bool = False) -> PostgresClaim:
        """Own the schema `url` names (with `shared`, together with other
        partitioned processes), or raise `StoreBusyError` naming who holds it."""
        import asyncpg

        parsed = PostgresTarget.parse(url)
        name = f"flowd pid {os.getpid()}" + (" (partitioned)" if shared else "")
        try:
            conn = await asyncpg.connect(
                parsed.dsn,
                timeout=CONNECT_TIMEOUT_S,
                server_settings={"application_name": name},
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
            raise StoreError(f"{display(url)}: cannot connect: {error}") from error
        try:
            schema = parsed.schema or await conn.fetchval("SELECT current_schema()") or "public"
            lock = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
            if not await conn.fetchval(f"SELECT {lock}($1, hashtext($2))", OWNER_LOCK, schema):
                raise StoreBusyError(await _busy_message(conn, url, schema, shared=shared))
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        with contextlib.suppress(Exception):
            await conn.close()  # the lock goes with the session


async def _busy_message(conn: Any, url: str, schema: str, *, shared: bool) -> str:
    """Who holds the schema's lock, for a claim it refused."""
    holders = await conn.fetch(
        "SELECT a.application_name, l.mode = 'ShareLock' FROM pg_locks AS l "
        "JOIN pg_stat_activity AS a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
        "AND l.granted AND l.classid = $1::integer::oid AND l.objid = hashtext($2)::oid "
        "AND l.objsubid = 2 ORDER BY a.backend_start",
        OWNER_LOCK,
        schema,
    )
    names = ", ".join(str(r[0]) for r in holders if r[0]) or "another flowd"
    if shared:
        return (
            f"the store {display(url)} is in use by {names}, which runs alone: stop it "
            "before starting partitioned processes on it"
        )
    if any(r[1] for r in holders):
        return (
            f"the store {display(url)} is in use by {names}, partitioned: stop them to "
            "run a flowd alone on it, or run this one partitioned too"
        )
    return f"the store {display(url)} is in use by {names}"


async def claim_store(target: str | Path, *, shared: bool = False) -> StoreClaim:
    """Own `target` while flowd runs on it, or raise `StoreBusyError`. `shared`:
    own it together with other partitioned processes (PostgreSQL only: a SQLite
    file is refused with `StoreError`)."""
    if is_postgres_url(target):
        return await PostgresClaim.claim(str(target), shared=shared)
    if shared:
        raise StoreError(_needs_postgres(target))
    return _FileClaim(StoreOwnership.claim(target))
