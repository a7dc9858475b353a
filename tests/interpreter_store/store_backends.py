"""The stores the store tests run on: `Backend` opens one kind on one database."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowyard.interpreter.store import (
    PostgresStore,
    SQLiteStore,
    Store,
    groupcommit,
    postgres_commit,
)
from flowyard.interpreter.store.partitions import partition_of
from flowyard.interpreter.store.writer_process import ProcessCommitter

_schemas = itertools.count()


@dataclass(frozen=True, slots=True)
class Backend:
    """One kind of store, and one database of it for the test."""

    name: str
    db_path: Path
    dsn: str = ""
    schema: str = ""

    async def open(self, *, max_batch: int = 256) -> SQLiteStore | PostgresStore:
        """Open this test's database (again)."""
        if self.name == "sqlite":
            return await SQLiteStore.open(self.db_path, max_batch=max_batch)
        if self.name == "sqlite-process":
            return await SQLiteStore.open(self.db_path, max_batch=max_batch, writer="process")
        return await PostgresStore.open(self.dsn, schema=self.schema, max_batch=max_batch)

    def fresh(self) -> Backend:
        """The same kind of store on another, empty database."""
        n = schema_number()
        return Backend(
            self.name,
            self.db_path.with_name(f"fresh-{n}.db"),
            self.dsn,
            f"{self.schema}_{n}" if self.schema else "",
        )

    def target(self) -> list[str]:
        """How a child process names this database: a path (and `process` for the
        writer process), or a DSN and schema."""
        if self.name == "sqlite":
            return [str(self.db_path)]
        if self.name == "sqlite-process":
            return [str(self.db_path), "process"]
        return [self.dsn, self.schema]

    def hold_writer(self, store: Store) -> Awaitable[None]:
        """A write that keeps the writer busy for 0.2 s: what is submitted meanwhile
        forms one batch."""
        if isinstance(store, SQLiteStore) and isinstance(store._committer, ProcessCommitter):
            return _pause(store._committer, 0.2)
        if isinstance(store, SQLiteStore):
            return store._committer.submit(lambda conn: time.sleep(0.2))
        assert isinstance(store, PostgresStore)

        async def sleep(conn: Any) -> None:
            await conn.execute("SELECT pg_sleep(0.2)")

        return store._committer.submit(sleep)

    def seam(self) -> Any:
        """The module whose `commit_transaction` the writer calls (to count or fail it)."""
        return groupcommit if self.name == "sqlite" else postgres_commit


async def _pause(committer: ProcessCommitter, seconds: float) -> None:
    """Stop the writer process for `seconds`: what is sent meanwhile waits in the
    pipe and is taken as one batch."""
    assert committer.pid is not None
    os.kill(committer.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(committer.pid, signal.SIGCONT)


def schema_number() -> int:
    """A number no other schema of this test process has."""
    return next(_schemas)


async def hold_writer(backend: Backend, store: Store) -> asyncio.Future[None]:
    """Keep the writer busy for a moment: what is submitted meanwhile is one batch."""
    held = asyncio.ensure_future(backend.hold_writer(store))
    await asyncio.sleep(0.05)
    return held


def keys_in(partition: int, n: int, count: int) -> list[str]:
    """The first `n` keys `k0, k1, ...` of store partition `partition` of `count`."""
    found = (f"k{i}" for i in itertools.count() if partition_of(f"k{i}", count) == partition)
    return list(itertools.islice(found, n))
