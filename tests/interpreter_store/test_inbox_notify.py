"""Inbox notifications on PostgreSQL: a partitioned store that stores inbox rows
for partitions it does not hold tells the other processes, by NOTIFY in the same
transaction, and hears what they store (`listen_inbox`)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from flowyard.interpreter.store import (
    ConflictError,
    EffectCallUpdate,
    InboxItem,
    PostgresStore,
    StoreError,
    postgres_listen,
)
from flowyard.interpreter.store.postgres_fence import EpochFence, FencedError
from flowyard.interpreter.store.postgres_partitions import (
    NOTIFY_PAYLOAD_BYTES,
    StorePartitions,
    inbox_channel,
)
from flowyard.interpreter.store.postgres_writes import IngestCall
from store_backends import Backend
from store_backends import keys_in as backend_keys_in

Heard = tuple[int, list[tuple[str, str]]]
COUNT = 4
QUIET_S = 0.3  # how long "nothing arrives" is waited for


class Ear:
    """A `listen_inbox` callback that queues what it hears."""

    def __init__(self) -> None:
        self.heard: asyncio.Queue[Heard] = asyncio.Queue()

    def __call__(self, partition: int, keys: list[tuple[str, str]]) -> None:
        self.heard.put_nowait((partition, keys))

    async def next(self) -> Heard:
        return await asyncio.wait_for(self.heard.get(), 10)

    async def nothing(self) -> bool:
        await asyncio.sleep(QUIET_S)
        return self.heard.empty()


@pytest.fixture
async def pair(pg: Backend) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two partitioned stores on one schema of `COUNT` partitions: `a` holds 0, `b` holds 1."""
    a = await PostgresStore.open(pg.dsn, schema=pg.schema, partitioned=True, partitions=COUNT)
    b = await PostgresStore.open(pg.dsn, schema=pg.schema, partitioned=True)
    try:
        await a.claim_partitions(a.owner_id, [0], at_ms=1)
        await b.claim_partitions(b.owner_id, [1], at_ms=1)
        yield a, b
    finally:
        await a.close()
        await b.close()


async def listening(*stores: PostgresStore) -> list[Ear]:
    ears = [Ear() for _ in stores]
    for store, ear in zip(stores, ears, strict=True):
        await store.listen_inbox(ear)
    return ears


def keys_in(partition: int, n: int) -> list[str]:
    return backend_keys_in(partition, n, COUNT)


def item(key: str, n: int = 0) -> InboxItem:
    return InboxItem("orders", key, {"n": n}, 1)


async def test_rows_for_partitions_held_elsewhere_are_announced_to_the_others(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    heard_by_a, heard_by_b = await listening(a, b)
    own, for_b, unheld = keys_in(0, 2), keys_in(1, 2), keys_in(2, 1)
    await a.ingest([item(own[0]), item(for_b[0]), item(for_b[1]), item(unheld[0]), item(for_b[0])])

    first, second = await heard_by_b.next(), await heard_by_b.next()
    assert sorted([first, second]) == [
        (1, [("orders", for_b[0]), ("orders", for_b[1])]),
        (2, [("orders", unheld[0])]),
    ]
    # Not to its sender, and nothing for the partition the sender holds (it has them in hand).
    assert await heard_by_a.nothing() and await heard_by_b.nothing()

    await b.ingest([item(own[1])])
    assert await heard_by_a.next() == (0, [("orders", own[1])])
    assert await heard_by_b.nothing()


async def test_a_store_not_partitioned_announces_nothing(
    pg: Backend, pair: tuple[PostgresStore, PostgresStore]
) -> None:
    _, b = pair
    (heard,) = await listening(b)
    async with await pg.open() as solo:
        await solo.ingest([item(keys_in(1, 1)[0])])
    assert await heard.nothing()


async def test_the_announcement_is_sent_when_the_transaction_commits(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    (heard,) = await listening(b)
    key = keys_in(1, 1)[0]
    call = IngestCall(
        items=(item(key),),
        sources=(),
        dead_letters=(),
        effect_updates=(),
        timers_fired=(),
        applied=(),
    )

    async def slow_ingest(conn: Any) -> None:
        await a._ingest(conn, [call])
        await conn.execute("SELECT pg_sleep(0.6)")

    in_flight = asyncio.ensure_future(a._committer.submit(slow_ingest))
    assert await heard.nothing()  # stored, not committed yet
    await in_flight
    assert await heard.next() == (1, [("orders", key)])


async def test_a_write_rolled_back_or_refused_announces_nothing(
    pg: Backend, pair: tuple[PostgresStore, PostgresStore]
) -> None:
    a, b = pair
    (heard,) = await listening(b)
    key = keys_in(1, 1)[0]
    # Its inbox row is stored, then the ingest fails on an unknown call: undone.
    with pytest.raises(ConflictError):
        await a.ingest(
            [item(key)], effect_updates=[EffectCallUpdate(call_id="nope", status="succeeded")]
        )
    assert await a.inbox_for("orders", key) == []
    async with await PostgresStore.open(pg.dsn, schema=pg.schema, partitioned=True) as c:
        await c.claim_partitions(c.owner_id, [0], at_ms=2)
    with pytest.raises(FencedError):  # a lost partition 0: the whole transaction is refused
        await a.ingest([item(key, 1)])
    assert await heard.nothing()
    await a.ingest([item(key, 2)])  # now holding nothing, a's writes pass unchecked
    assert await heard.next() == (1, [("orders", key)])


async def test_many_keys_are_announced_in_several_notifications(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    (heard,) = await listening(b)
    long_keys = (f"order-{n:06d}-{'x' * 40}" for n in itertools.count())
    keys = list(itertools.islice((k for k in long_keys if a.partition_of(k) == 1), 500))
    await a.ingest([item(k) for k in keys])
    got: list[tuple[str, str]] = []
    notifications = 0
    while len(got) < len(keys):
        partition, named = await heard.next()
        assert partition == 1
        got += named
        notifications += 1
    assert got == [("orders", k) for k in keys]
    assert notifications >= 4  # 500 pairs of about 60 bytes, at most 7,000 bytes each


def test_payloads_stay_under_the_limit_and_name_what_fits() -> None:
    fence = EpochFence()
    parts = StorePartitions(
        COUNT, partitioned=True, owner_id="me", channel=inbox_channel("s"), fence=fence
    )
    keys = [("orders", k) for k in keys_in(2, 400)] + [("orders", "y" * 8_000)]
    payloads = parts.notifications(keys)
    assert all(len(p.encode()) <= NOTIFY_PAYLOAD_BYTES for p in payloads)
    decoded = [json.loads(p) for p in payloads]
    by_partition: dict[int, list[list[str]]] = {}
    for message in decoded:
        assert message["from"] == "me"
        by_partition.setdefault(message["p"], []).extend(message["k"])
    long_key_partition = parts.of("y" * 8_000)
    named = [("orders", k) for k in keys_in(2, 400)]
    assert [tuple(pair) for pair in by_partition[2]] == named
    # Too long to name: an empty list, "read that partition's inbox".
    assert {"from": "me", "p": long_key_partition, "k": []} in decoded
    fence.held[2] = 1
    fence.held[long_key_partition] = 1
    assert parts.notifications(keys) == []


def test_each_schema_has_its_own_channel() -> None:
    assert inbox_channel("orders") == inbox_channel("orders")
    assert inbox_channel("orders") != inbox_channel("payments")
    assert len(inbox_channel("x" * 200)) < 63


async def test_the_listener_reconnects_when_its_connection_is_lost(
    pg: Backend, pair: tuple[PostgresStore, PostgresStore], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    reconnected = asyncio.Event()
    heard = Ear()
    await b.listen_inbox(heard, on_reconnect=reconnected.set)
    with pytest.raises(RuntimeError, match="listening already"):
        await b.listen_inbox(heard)
    listener = b._listener
    assert listener is not None and listener._conn is not None
    admin = await asyncpg.connect(pg.dsn)
    try:
        pid = listener._conn.get_server_pid()
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.wait_for(reconnected.wait(), 10)
    assert "the inbox listener lost its connection; reconnecting" in caplog.text
    key = keys_in(1, 1)[0]
    await a.ingest([item(key)])
    assert await heard.next() == (1, [("orders", key)])


async def test_the_listener_probes_a_quiet_connection(
    pg: Backend, pair: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, b = pair
    monkeypatch.setattr(postgres_listen, "PROBE_INTERVAL_S", 0.05)
    probed = asyncio.Event()
    answers = postgres_listen.InboxListener._answers

    async def counting(listener: postgres_listen.InboxListener) -> bool:
        probed.set()
        return await answers(listener)

    monkeypatch.setattr(postgres_listen.InboxListener, "_answers", counting)
    await b.listen_inbox(Ear())
    await asyncio.wait_for(probed.wait(), 10)


async def test_listening_where_the_server_cannot_be_reached_is_a_store_error(
    pair: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, b = pair
    monkeypatch.setattr(b, "_dsn", "postgresql://nobody@127.0.0.1:1/x")
    with pytest.raises(StoreError, match="cannot listen for inbox rows"):
        await b.listen_inbox(Ear())
