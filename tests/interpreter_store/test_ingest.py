"""Ingest: dedup by source, source positions, dead letters, inbox order and delays."""

from __future__ import annotations

import asyncio

from flowyard.interpreter.store import DeadLetter, InboxItem, SourcePosition, Store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_backends import Backend


def item(
    key: str,
    n: int = 0,
    *,
    source: str | None = None,
    position: int | None = None,
    not_before_ms: int | None = None,
    flow: str = "orders",
) -> InboxItem:
    return InboxItem(
        flow=flow,
        key=key,
        input={"kind": "event", "name": "placed", "n": n},
        received_ms=100 + n,
        not_before_ms=not_before_ms,
        source=source,
        position=position,
    )


async def test_same_idempotency_key_is_accepted_once(store: Store) -> None:
    first = await store.ingest([item("a", 1, source="http:key-1")])
    again = await store.ingest([item("a", 2, source="http:key-1")])
    assert len(first.accepted) == 1
    assert again.inbox_ids == (None,)
    assert again.duplicates == 1
    rows = await store.inbox_for("orders", "a")
    assert [r.input["n"] for r in rows] == [1]
    assert [r.id for r in rows] == list(first.accepted)


async def test_one_record_fanned_out_in_one_ingest_is_accepted_for_every_instance(
    store: Store,
) -> None:
    fanned = [
        item("a", 1, source="http:k"),
        item("b", 1, source="http:k", flow="audit"),
        item("c", 1, source="kafka:t:0", position=4),
        item("c", 1, source="kafka:t:0", position=4, flow="audit"),
    ]
    first = await store.ingest(fanned)
    assert None not in first.inbox_ids
    again = await store.ingest(fanned)
    assert again.inbox_ids == (None, None, None, None)


async def test_an_older_offset_later_in_the_same_ingest_is_skipped(store: Store) -> None:
    result = await store.ingest(
        [item("a", 1, source="kafka:t:0", position=7), item("a", 2, source="kafka:t:0", position=5)]
    )
    assert result.inbox_ids[0] is not None and result.inbox_ids[1] is None


async def test_concurrent_ingests_of_one_idempotency_key_accept_one(store: Store) -> None:
    results = await asyncio.gather(
        *(store.ingest([item("a", n, source="http:same")]) for n in range(10))
    )
    assert sum(len(r.accepted) for r in results) == 1
    assert len(await store.inbox_for("orders", "a")) == 1


async def test_items_without_source_are_always_accepted(store: Store) -> None:
    await store.ingest([item("a", 1), item("a", 1)])
    assert len(await store.inbox_for("orders", "a")) == 2


async def test_kafka_offsets_at_or_before_the_stored_position_are_skipped(
    store: Store,
) -> None:
    src = "kafka:orders:0"
    first = await store.ingest([item("a", n, source=src, position=n) for n in (5, 6, 7)])
    assert len(first.accepted) == 3
    replayed = await store.ingest([item("a", n, source=src, position=n) for n in (6, 7, 8)])
    assert replayed.inbox_ids[:2] == (None, None)
    assert replayed.inbox_ids[2] is not None
    position = await store.source_position(src)
    assert position is not None and position.position == 8
    other_partition = await store.ingest([item("a", 1, source="kafka:orders:1", position=1)])
    assert len(other_partition.accepted) == 1


async def test_positions_advance_without_items_and_never_go_back(store: Store) -> None:
    src = "kafka:orders:0"
    await store.ingest([], [SourcePosition(source=src, position=10, updated_ms=1)])
    await store.ingest([], [SourcePosition(source=src, position=4, updated_ms=2)])
    position = await store.source_position(src)
    assert position is not None
    assert (position.position, position.updated_ms) == (10, 2)
    skipped = await store.ingest([item("a", 9, source=src, position=9)])
    assert skipped.inbox_ids == (None,)
    assert await store.source_position("kafka:never:0") is None


async def test_dead_letters_land_with_the_source_position(store: Store) -> None:
    letter = DeadLetter(
        source="kafka:orders:0@3", topic="orders", reason="not JSON", payload="{oops", at_ms=7
    )
    result = await store.ingest(
        [],
        [SourcePosition(source="kafka:orders:0", position=3, updated_ms=7)],
        dead_letters=[letter],
    )
    assert len(result.dead_letter_ids) == 1
    single = await store.dead_letter(
        DeadLetter(source="file:e.jsonl:2", topic=None, reason="no flow", payload="x", at_ms=8)
    )
    letters = await store.dead_letters()
    assert [(d.id, d.reason, d.payload) for d in letters] == [
        (result.dead_letter_ids[0], "not JSON", "{oops"),
        (single, "no flow", "x"),
    ]
    position = await store.source_position("kafka:orders:0")
    assert position is not None and position.position == 3


async def test_pruning_forgets_old_sources_of_one_prefix_only(store: Store) -> None:
    # received_ms is 100 + n: the emit sources moved at 101, 102 and 109.
    await store.ingest(
        [
            item("a", 1, source="emit:k1@orders"),
            item("a", 2, source="emit:k2@orders"),
            item("a", 9, source="emit:k9@orders"),
            item("b", 1, source="emitter:x@orders"),
            item("b", 2, source="kafka:orders:0@orders", position=5),
        ]
    )
    assert await store.prune_sources("emit:", 105, limit=1) == 1
    assert await store.prune_sources("emit:", 105, limit=10) == 1
    assert await store.prune_sources("emit:", 105, limit=10) == 0
    for gone in ("emit:k1@orders", "emit:k2@orders"):
        assert await store.source_position(gone) is None
    for kept in ("emit:k9@orders", "emitter:x@orders", "kafka:orders:0@orders"):
        assert await store.source_position(kept) is not None
    # A record from a forgotten source is taken again; one still known is not.
    again = await store.ingest(
        [item("a", 1, source="emit:k1@orders"), item("a", 9, source="emit:k9@orders")]
    )
    assert again.inbox_ids[0] is not None and again.inbox_ids[1] is None


async def test_a_dead_letter_keeps_its_kafka_record_key_as_read(store: Store) -> None:
    keys = [b"order-7", b"\xff\x00not text", None]
    await store.ingest(
        [],
        dead_letters=[
            DeadLetter(
                source=f"kafka:orders:0@{n}",
                topic="orders",
                reason="not JSON",
                payload="{",
                at_ms=n,
                record_key=key,
            )
            for n, key in enumerate(keys)
        ],
    )
    letters = await store.dead_letters()
    assert [d.record_key for d in letters] == keys
    assert [d.record_key_text for d in letters] == ["order-7", "\ufffd\x00not text", None]


async def test_inbox_keeps_arrival_order_and_honours_not_before(store: Store) -> None:
    await store.ingest([item("a", 1), item("b", 2)])
    await store.ingest([item("a", 3, not_before_ms=500), item("a", 4)])
    await store.ingest([item("c", 5, not_before_ms=300)])

    assert [r.input["n"] for r in await store.inbox_for("orders", "a")] == [1, 3, 4]
    assert [r.input["n"] for r in await store.inbox_for("orders", "a", now_ms=499)] == [1, 4]
    assert [r.input["n"] for r in await store.inbox_for("orders", "a", now_ms=500)] == [1, 3, 4]
    assert [r.input["n"] for r in await store.inbox_for("orders", "a", limit=2)] == [1, 3]

    assert await store.keys_with_ready_inbox(now_ms=0) == [("orders", "a"), ("orders", "b")]
    assert await store.keys_with_ready_inbox(now_ms=300) == [
        ("orders", "a"),
        ("orders", "b"),
        ("orders", "c"),
    ]
    assert await store.keys_with_ready_inbox(now_ms=0, limit=1) == [("orders", "a")]
    assert await store.next_not_before_ms() == 300
    assert await store.next_not_before_ms(after_ms=300) == 500
    assert await store.next_not_before_ms(after_ms=500) is None


async def test_ingest_is_durable_across_reopen(backend: Backend) -> None:
    async with await backend.open() as first:
        await first.ingest([item("a", 1, source="http:x")])
    async with await backend.open() as second:
        assert len(await second.inbox_for("orders", "a")) == 1
        again = await second.ingest([item("a", 1, source="http:x")])
        assert again.accepted == ()


# The backend fixture is only read: each example opens a database of its own.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(st.integers(0, 30), max_size=6), min_size=1, max_size=5))
def test_offsets_are_accepted_exactly_when_past_the_highest_seen(
    backend: Backend, batches: list[list[int]]
) -> None:
    async def run() -> None:
        # Each example on an empty database of its own.
        async with await backend.fresh().open() as store:
            highest = -1
            for batch in batches:
                result = await store.ingest(
                    [item("k", off, source="kafka:t:0", position=off) for off in batch]
                )
                accepted_here: set[int] = set()
                for off, inbox_id in zip(batch, result.inbox_ids, strict=True):
                    fresh = off > highest or off in accepted_here
                    assert (inbox_id is not None) == fresh
                    if fresh:
                        accepted_here.add(off)
                    highest = max(highest, off)

    asyncio.run(run())


async def test_ids_of_a_large_ingest_name_their_own_rows(store: Store) -> None:
    # More rows than one statement carries, with skipped duplicates in between.
    await store.ingest([item("a", 0, source="kafka:t:0", position=100)])
    items = [
        item(f"k{n % 7}", n, source="kafka:t:0", position=n if n % 300 else 50)
        for n in range(101, 1401)
    ]
    result = await store.ingest(items)
    skipped = [i for i, inbox_id in enumerate(result.inbox_ids) if inbox_id is None]
    assert skipped == [n - 101 for n in range(101, 1401) if n % 300 == 0]
    by_id = {row.id: row for key in range(7) for row in await store.inbox_for("orders", f"k{key}")}
    assert len(by_id) == len(items) - len(skipped)
    for sent, inbox_id in zip(items, result.inbox_ids, strict=True):
        if inbox_id is not None:
            assert (by_id[inbox_id].key, by_id[inbox_id].input) == (sent.key, sent.input)
