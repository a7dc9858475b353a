"""PostgreSQL's own ways: two stores on one database (two processes), a lost connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from flowyard.interpreter.store import InboxItem, PostgresStore, StepCommit, StoreError
from store_backends import Backend

CommitFor = Callable[..., StepCommit]


def item(n: int, source: str, position: int | None = None) -> InboxItem:
    return InboxItem("orders", "a", {"n": n}, n, source=source, position=position)


async def test_two_processes_ingesting_one_key_or_offset_at_once_store_it_once(
    pg: Backend,
) -> None:
    stores = [await pg.open() for _ in range(2)]
    try:
        for round_ in range(20):
            results = await asyncio.gather(
                stores[0].ingest([item(1, f"http:key-{round_}")]),
                stores[1].ingest([item(2, f"http:key-{round_}")]),
                stores[0].ingest([item(3, "kafka:t:0", round_)]),
                stores[1].ingest([item(4, "kafka:t:0", round_)]),
            )
            assert sum(len(r.accepted) for r in results[:2]) == 1
            assert sum(len(r.accepted) for r in results[2:]) == 1
        assert len(await stores[0].inbox_for("orders", "a")) == 40
    finally:
        for store in stores:
            await store.close()


async def test_a_lost_writer_connection_fails_its_batch_and_the_next_one_reconnects(
    pg: Backend, commit_for: CommitFor
) -> None:
    async with await pg.open() as store:
        assert isinstance(store, PostgresStore)
        await store.commit(commit_for("before"))
        writer_pid = store._committer._conn.get_server_pid()

        async def long_write(conn: Any) -> None:
            await conn.execute("SELECT pg_sleep(30)")  # cut short by the termination

        held = asyncio.ensure_future(store._committer.submit(long_write))
        await asyncio.sleep(0.05)  # the transaction is in flight
        lost = asyncio.ensure_future(store.commit(commit_for("lost")))
        admin = await asyncpg.connect(pg.dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", writer_pid)
        finally:
            await admin.close()
        with pytest.raises(StoreError):
            await held
        # The write queued behind it went out on a new connection, or failed too.
        await asyncio.gather(lost, return_exceptions=True)
        await store.commit(commit_for("after"))
        assert {"after", "before"} <= {i.key for i in await store.instances()}
        assert store._committer._conn.get_server_pid() != writer_pid


async def test_listings_come_in_byte_order_whatever_the_databases_locale(
    pg: Backend, commit_for: CommitFor
) -> None:
    # A database sorting by English rules ('a' < 'B'); the store sorts as SQLite does.
    name = pg.schema.replace("t", "icu", 1)
    admin = await asyncpg.connect(pg.dsn)
    try:
        await admin.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu "
            "ICU_LOCALE 'en-US' LOCALE 'C'"
        )
        dsn = pg.dsn.rsplit("/", 1)[0] + f"/{name}"
        async with await PostgresStore.open(dsn) as store:
            for key in ("c", "a", "B"):
                await store.commit(commit_for(key))
            assert [i.key for i in await store.instances()] == ["B", "a", "c"]
            assert await store._reader.fetchval("SELECT 'a' < 'B'")  # English rules
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
