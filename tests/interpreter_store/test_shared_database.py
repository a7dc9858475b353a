"""PostgreSQL's own ways: two stores on one database (two processes), a lost connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
        admin = await asyncpg.connect(pg.dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", writer_pid)
        finally:
            await admin.close()
        with pytest.raises(StoreError):
            await store.commit(commit_for("lost"))
        await store.commit(commit_for("after"))
        assert [i.key for i in await store.instances()] == ["after", "before"]
        assert store._committer._conn.get_server_pid() != writer_pid
