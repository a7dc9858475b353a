"""Store partitions on PostgreSQL: every work row knows its instance's partition,
a partitioned store finds work only in the partitions it holds and writes steps
only for them, and the partition count is fixed per schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner
from flowyard.interpreter.store import (
    CallbackRegistration,
    DeadLetter,
    EffectCallUpdate,
    InboxItem,
    NewEffectCall,
    OutboxMessage,
    PostgresStore,
    SQLiteStore,
    StepCommit,
    StoreError,
    TimerRow,
)
from flowyard.interpreter.store import postgres_schema as pg_schema
from flowyard.interpreter.store.partitions import DEFAULT_PARTITIONS, partition_of
from flowyard.interpreter.store.postgres_fence import (
    EpochHolder,
    FencedError,
    PartitionNotHeldError,
)
from store_backends import Backend, hold_writer
from store_backends import keys_in as backend_keys_in

CommitFor = Callable[..., StepCommit]
COUNT = 4


def keys_in(partition: int, n: int) -> list[str]:
    return backend_keys_in(partition, n, COUNT)


async def open_store(pg: Backend, **options: Any) -> PostgresStore:
    return await PostgresStore.open(pg.dsn, schema=pg.schema, **options)


@pytest.fixture
async def solo(pg: Backend) -> AsyncIterator[PostgresStore]:
    """A store in the ordinary mode on a new schema of `COUNT` partitions."""
    store = await open_store(pg, partitions=COUNT)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def partitioned(pg: Backend, solo: PostgresStore) -> AsyncIterator[PostgresStore]:
    """A partitioned store on the same schema, holding nothing yet."""
    store = await open_store(pg, partitioned=True)
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.parametrize("count", [1, 3, 12, 48])
def test_partition_of_is_kafkas_default_partitioner_on_the_key(count: int) -> None:
    every = list(range(count))
    for key in ["a", "order-17", "клиент/42", "", "x" * 300, "k0"]:
        assert partition_of(key, count) == DefaultPartitioner()(key.encode(), every, every)


async def test_a_new_schema_records_its_partition_count(pg: Backend) -> None:
    async with await open_store(pg) as default:
        assert default.partition_count == DEFAULT_PARTITIONS == 12
        assert default.partition_of("order-17") == partition_of("order-17", 12)
    async with await open_store(pg.fresh(), partitions=48) as asked:
        assert asked.partition_count == 48
    with pytest.raises(ValueError, match="partition count"):
        await open_store(pg, partitions=0)


async def test_another_partition_count_for_an_existing_schema_is_refused(pg: Backend) -> None:
    async with await open_store(pg, partitions=24):
        pass
    with pytest.raises(StoreError) as refused:
        await open_store(pg, partitions=12)
    message = str(refused.value)
    assert "the store has 24 partitions, not the 12 asked for" in message
    assert "ask for 24 (or leave the count out), or start a new schema" in message
    async with await open_store(pg) as kept, await open_store(pg, partitions=24) as same:
        assert kept.partition_count == same.partition_count == 24


async def test_a_version_3_database_gets_its_rows_partitioned_when_migrated(
    pg: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [f"key-{i}" for i in range(7)]
    conn = await asyncpg.connect(pg.dsn, server_settings={"search_path": pg.schema})
    try:
        await pg_schema.migrate(conn, target=3, schema=pg.schema)
        for n, key in enumerate(keys):
            await conn.execute(
                "INSERT INTO inbox (flow, key, input, received_ms) VALUES ('f', $1, '{}', 1)", key
            )
            await conn.execute(
                "INSERT INTO timers (flow, key, timer_id, due_ms) VALUES ('f', $1, 't', 5)", key
            )
            await conn.execute(
                "INSERT INTO effect_calls (call_id, flow, key, effect, request, idempotency_key, "
                "status, created_ms, updated_ms) VALUES ($1, 'f', $2, 'e', '{}', $1, 'pending', "
                "1, 1)",
                f"call-{n}",
                key,
            )
            await conn.execute(
                "INSERT INTO outbox (topic, key, value, headers, dedup_key, created_ms) "
                "VALUES ('t', 'any', '1', '{}', $1, 1)",
                f"d{n}",
            )
    finally:
        await conn.close()
    monkeypatch.setattr(pg_schema, "_BACKFILL_CHUNK", 3)  # several UPDATEs per table

    async with await open_store(pg, partitions=5) as store:
        assert store.partition_count == 5
        conn = await asyncpg.connect(pg.dsn, server_settings={"search_path": pg.schema})
        try:
            assert await conn.fetchval("SELECT value FROM meta WHERE name = 'partitions'") == "5"
            for table in ("inbox", "timers", "effect_calls"):
                stored = dict(await conn.fetch(f"SELECT key, partition FROM {table}"))
                assert stored == {key: partition_of(key, 5) for key in keys}, table
            # Outbox rows written before do not name their instance: partition 0's.
            assert {r[0] for r in await conn.fetch("SELECT partition FROM outbox")} == {0}
        finally:
            await conn.close()
        assert len(await store.pending_outbox(partitions=[0])) == 7


async def test_writes_give_every_work_row_its_instances_partition(
    pg: Backend, solo: PostgresStore, commit_for: CommitFor
) -> None:
    key, message_key, sent_to = keys_in(1, 1)[0], keys_in(2, 1)[0], keys_in(3, 1)[0]
    message = OutboxMessage(topic="t", key=message_key, value=1, headers={}, dedup_key="d")
    await solo.commit(
        commit_for(
            key,
            timers_armed=(TimerRow(flow="orders", key=key, timer_id="t", due_ms=9),),
            outbox=(message,),
            effect_calls=(NewEffectCall(call_id="c", effect="e", request={}, idempotency_key="c"),),
            callbacks=(CallbackRegistration(call_id="cb", token="tok"),),
            inbox=(InboxItem("orders", sent_to, {"n": 1}, 1),),
        )
    )
    await solo.ingest([InboxItem("orders", key, {"n": 2}, 2)])
    assert await _partitions_of(pg, "timers") == [(key, 1)]
    assert await _partitions_of(pg, "effect_calls") == [(key, 1), (key, 1)]
    # An outbox row belongs to the instance that emitted it, whatever its message key.
    assert await _partitions_of(pg, "outbox") == [(message_key, 1)]
    assert await _partitions_of(pg, "inbox") == [(sent_to, 3), (key, 1)]


async def _partitions_of(pg: Backend, table: str) -> list[tuple[str, int]]:
    """`(key, partition)` of every row of `table`, in insertion order."""
    conn = await asyncpg.connect(pg.dsn, server_settings={"search_path": pg.schema})
    try:
        found = await conn.fetch(f"SELECT key, partition FROM {table} ORDER BY ctid")
    finally:
        await conn.close()
    return [(r[0], r[1]) for r in found]


async def _work_in_every_partition(solo: PostgresStore, commit_for: CommitFor) -> None:
    """Per partition p: a ready and a delayed inbox row, a timer due at 100 + p,
    a pending effect call and an unsent outbox row."""
    for p in range(COUNT):
        ready, delayed, stepped = keys_in(p, 3)
        await solo.ingest(
            [
                InboxItem("orders", ready, {"n": p}, 1),
                InboxItem("orders", delayed, {"n": p}, 1, not_before_ms=500 + p),
            ]
        )
        await solo.commit(
            commit_for(
                stepped,
                timers_armed=(TimerRow(flow="orders", key=stepped, timer_id="t", due_ms=100 + p),),
                effect_calls=(
                    NewEffectCall(call_id=f"c{p}", effect="e", request={}, idempotency_key="i"),
                ),
                outbox=(
                    OutboxMessage(topic="t", key=None, value=p, headers={}, dedup_key=f"d{p}"),
                ),
            )
        )


async def _work_seen(store: PostgresStore, **scope: Any) -> dict[str, Any]:
    """What each read that finds work sees, as the partitions of what it found."""
    timers = await store.due_timers(1_000, **scope)
    return {
        "ready": {
            store.partition_of(k) for _, k in await store.keys_with_ready_inbox(1_000, **scope)
        },
        "next_delayed": await store.next_not_before_ms(**scope),
        "timers": [t.due_ms - 100 for t in timers],
        "next_timer": await store.next_timer_due(**scope),
        "calls": [c.call_id for c in await store.effect_calls(["pending", "running"], **scope)],
        "outbox": [m.value for m in await store.pending_outbox(**scope)],
    }


async def test_a_partitioned_store_finds_work_only_in_the_partitions_it_holds(
    solo: PostgresStore, partitioned: PostgresStore, commit_for: CommitFor
) -> None:
    await _work_in_every_partition(solo, commit_for)
    nothing = {
        "ready": set(),
        "next_delayed": None,
        "timers": [],
        "next_timer": None,
        "calls": [],
        "outbox": [],
    }
    assert await _work_seen(partitioned) == nothing

    await partitioned.claim_partitions(partitioned.owner_id, [1, 3], at_ms=1)
    assert await _work_seen(partitioned) == {
        "ready": {1, 3},
        "next_delayed": 501,
        "timers": [1, 3],
        "next_timer": 101,
        "calls": ["c1", "c3"],
        "outbox": [1, 3],
    }
    # Asked for partitions, any store reads those.
    for store in (partitioned, solo):
        seen = await _work_seen(store, partitions=[2])
        assert seen == {
            "ready": {2},
            "next_delayed": 502,
            "timers": [2],
            "next_timer": 102,
            "calls": ["c2"],
            "outbox": [2],
        }
        assert await _work_seen(store, partitions=[]) == nothing
    assert await _work_seen(solo) == {
        "ready": {0, 1, 2, 3},
        "next_delayed": 500,
        "timers": [0, 1, 2, 3],
        "next_timer": 100,
        "calls": ["c0", "c1", "c2", "c3"],
        "outbox": [0, 1, 2, 3],
    }
    # Asked for no status, a partitioned store lists every call (an operator's listing).
    assert len(await partitioned.effect_calls()) == COUNT
    partitioned.release_partitions([1, 3])
    assert await _work_seen(partitioned) == nothing


async def test_partitioned_reads_page_and_filter_as_the_others_do(
    solo: PostgresStore, partitioned: PostgresStore, commit_for: CommitFor
) -> None:
    keys = keys_in(0, 3) + keys_in(2, 3)
    for n, key in enumerate(keys):
        timer = TimerRow(flow="orders", key=key, timer_id="t", due_ms=10 + n % 3)
        await solo.commit(commit_for(key, timers_armed=(timer,)))
    await partitioned.claim_partitions(partitioned.owner_id, [0, 2], at_ms=1)
    everything = await solo.due_timers(1_000)
    assert await partitioned.due_timers(1_000) == everything
    first = await partitioned.due_timers(1_000, limit=4)
    rest = await partitioned.due_timers(1_000, after=first[-1])
    assert first + rest == everything
    assert await partitioned.due_timers(10) == [t for t in everything if t.due_ms <= 10]
    await solo.ingest([InboxItem("orders", keys[0], {}, 1, not_before_ms=50)])
    await solo.ingest([InboxItem("orders", keys[3], {}, 1, not_before_ms=60)])
    assert await partitioned.next_not_before_ms(after_ms=50) == 60
    assert await partitioned.next_not_before_ms(after_ms=60) is None
    assert await partitioned.keys_with_ready_inbox(55) == [("orders", keys[0])]
    assert await partitioned.keys_with_ready_inbox(60, limit=1) == [("orders", keys[0])]


async def test_sqlite_has_no_partitions_and_reads_everything(
    db_path: Path, commit_for: CommitFor
) -> None:
    async with await SQLiteStore.open(db_path) as store:
        await store.ingest([InboxItem("orders", "a", {}, 1)])
        await store.commit(
            commit_for(
                "b",
                effect_calls=(
                    NewEffectCall(call_id="c", effect="e", request={}, idempotency_key="i"),
                ),
            )
        )
        assert await store.keys_with_ready_inbox(5, partitions=[]) == [("orders", "a")]
        assert [c.call_id for c in await store.effect_calls("pending", partitions=[7])] == ["c"]


async def test_a_partitioned_store_writes_steps_only_of_the_partitions_it_holds(
    partitioned: PostgresStore, commit_for: CommitFor
) -> None:
    mine, theirs = keys_in(1, 1)[0], keys_in(2, 1)[0]
    with pytest.raises(PartitionNotHeldError, match=rf"partition\(s\) 1 of orders/{mine} not held"):
        await partitioned.commit(commit_for(mine))
    await partitioned.claim_partitions(partitioned.owner_id, [1], at_ms=1)
    await partitioned.commit(commit_for(mine))
    with pytest.raises(PartitionNotHeldError) as refused:
        await partitioned.commit_steps([commit_for(mine, 1), commit_for(theirs)])
    assert refused.value.partitions == [2]
    assert [j.seq for j in await partitioned.journal("orders", mine)] == [0]
    # Inputs may be ingested for any instance; a step offered on arrival is
    # applied only for an instance this store owns, others' go to the inbox.
    result = await partitioned.ingest(
        [InboxItem("orders", mine, {}, 1), InboxItem("orders", theirs, {}, 1)],
        applied=[commit_for(mine, 1), commit_for(theirs)],
    )
    assert result.applied == (True, False)
    assert result.inbox_ids[1] is not None
    assert await partitioned.load_instance("orders", theirs) is None


async def test_a_step_on_arrival_never_overtakes_input_another_process_stored(
    pg: Backend, solo: PostgresStore, commit_for: CommitFor
) -> None:
    holder = await open_store(pg, partitioned=True)
    other = await open_store(pg, partitioned=True)
    try:
        await holder.claim_partitions(holder.owner_id, [1], at_ms=1)
        waiting, idle = keys_in(1, 2)
        # Another process stored input for `waiting`; its notice has not come yet.
        first = await other.ingest([InboxItem("orders", waiting, {"n": 1}, 1)])
        result = await holder.ingest(
            [InboxItem("orders", waiting, {"n": 2}, 2), InboxItem("orders", idle, {"n": 1}, 2)],
            applied=[commit_for(waiting), commit_for(idle)],
        )
        assert result.applied == (False, True)
        assert await holder.load_instance("orders", waiting) is None
        queued = await holder.inbox_for("orders", waiting)
        assert [(r.id, r.input) for r in queued] == [
            (first.inbox_ids[0], {"n": 1}),
            (result.inbox_ids[0], {"n": 2}),
        ]
    finally:
        await holder.close()
        await other.close()


async def test_a_fenced_store_drops_the_lost_partitions_and_goes_on_with_the_others(
    pg: Backend, solo: PostgresStore, commit_for: CommitFor
) -> None:
    a = await open_store(pg, partitioned=True)
    b = await open_store(pg, partitioned=True)
    told: list[Mapping[int, EpochHolder]] = []
    try:
        a.on_fenced(told.append)
        await a.claim_partitions(a.owner_id, [0, 1], at_ms=1)
        await b.claim_partitions(b.owner_id, [1], at_ms=2)
        kept, lost = keys_in(0, 1)[0], keys_in(1, 1)[0]

        with pytest.raises(FencedError) as refused:
            await a.commit(commit_for(kept))
        assert refused.value.lost == {1: EpochHolder(epoch=2, owner=b.owner_id)}
        assert told == [refused.value.lost]
        assert a.held_partitions() == {0: 1}
        assert await a.load_instance("orders", kept) is None

        await a.commit(commit_for(kept))  # the next batch passes for partition 0
        with pytest.raises(PartitionNotHeldError):
            await a.commit(commit_for(lost))
        await b.commit(commit_for(lost))
        assert told == [refused.value.lost]
    finally:
        await a.close()
        await b.close()


async def test_effect_updates_and_outbox_bookkeeping_are_not_partition_checked(
    solo: PostgresStore, partitioned: PostgresStore, commit_for: CommitFor
) -> None:
    key = keys_in(3, 1)[0]
    await solo.commit(
        commit_for(
            key,
            effect_calls=(NewEffectCall(call_id="c", effect="e", request={}, idempotency_key="i"),),
        )
    )
    # An effect result lands wherever the runner is; only steps are the owner's.
    await partitioned.ingest(
        [InboxItem("orders", key, {"result": 1}, 2)],
        effect_updates=[EffectCallUpdate(call_id="c", status="succeeded", result={"ok": True})],
    )
    call = await solo.effect_call("c")
    assert call is not None and call.status == "succeeded"


async def test_a_barrier_returns_once_the_writes_queued_before_it_are_done(
    pg: Backend, partitioned: PostgresStore, commit_for: CommitFor
) -> None:
    key = keys_in(2, 1)[0]
    await partitioned.claim_partitions(partitioned.owner_id, [2], at_ms=1)
    held = await hold_writer(pg, partitioned)
    queued = asyncio.ensure_future(partitioned.commit(commit_for(key)))
    await asyncio.sleep(0)  # queued before the barrier
    await partitioned.barrier()
    assert held.done() and queued.done()
    assert await partitioned.load_instance("orders", key) is not None
    # A refused batch is over too: the barrier does not raise.
    async with await open_store(pg, partitioned=True) as other:
        await other.claim_partitions(other.owner_id, [2], at_ms=2)
    queued = asyncio.ensure_future(partitioned.commit(commit_for(key, 1)))
    await asyncio.sleep(0)
    await partitioned.barrier()
    assert isinstance(queued.exception(), FencedError)


async def test_dead_letters_are_read_only_once_every_lower_number_is_committed(
    pg: Backend, solo: PostgresStore
) -> None:
    """Two processes' letters can commit out of number order; a partitioned read
    waits for the lower number, so a reader going on after the highest it read
    (the dead-letter relay) misses none."""
    store = await open_store(pg, partitioned=True)
    other = await asyncpg.connect(pg.dsn, server_settings={"search_path": pg.schema})
    try:
        slow = other.transaction()
        await slow.start()
        first = await other.fetchval(
            "INSERT INTO dead_letters (source, topic, reason, payload, at_ms) "
            "VALUES ('kafka:t:0@1', 't', 'slow', '{}', 1) RETURNING id"
        )
        second = await store.dead_letter(
            DeadLetter(source="kafka:t:0@2", topic="t", reason="fast", payload="{}", at_ms=2)
        )
        assert second > first
        reading = asyncio.create_task(store.dead_letters(after_id=0))
        await asyncio.sleep(0.3)
        assert not reading.done()  # letter `first` is numbered and not committed yet
        await slow.commit()
        found = await asyncio.wait_for(reading, 10)
        assert [letter.id for letter in found] == [first, second]
    finally:
        await other.close()
        await store.close()
