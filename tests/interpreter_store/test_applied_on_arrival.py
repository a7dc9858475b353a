"""Ingest with steps offered for idle instances: committed in place of inbox rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from flowyard.interpreter.store import InboxItem, StepCommit, Store
from store_backends import Backend, hold_writer

CommitFor = Callable[..., StepCommit]


def event(key: str, n: int, *, source: str | None = None) -> InboxItem:
    return InboxItem(flow="orders", key=key, input={"n": n}, received_ms=n, source=source)


async def test_applied_steps_are_journaled_instead_of_queued(
    store: Store, commit_for: CommitFor
) -> None:
    items = [event("a", 1), event("a", 2), event("b", 3)]
    steps = [commit_for("a", 0, state="paid"), commit_for("a", 1, state="shipped"), None]
    result = await store.ingest(items, applied=steps)

    assert result.applied == (True, True, False)
    assert result.inbox_ids[:2] == (None, None)
    assert result.inbox_ids[2] is not None
    assert result.duplicates == 0
    assert [j.seq for j in await store.journal("orders", "a")] == [0, 1]
    instance = await store.load_instance("orders", "a")
    assert instance is not None and (instance.seq, instance.state) == (2, "shipped")
    assert await store.inbox_for("orders", "a") == []
    assert [r.input["n"] for r in await store.inbox_for("orders", "b")] == [3]


async def test_a_duplicate_is_neither_applied_nor_queued_and_its_key_stops_applying(
    store: Store, commit_for: CommitFor
) -> None:
    await store.ingest([event("a", 1, source="http:k1")])
    items = [event("a", 1, source="http:k1"), event("a", 2), event("b", 3)]
    steps = [commit_for("a", 0), commit_for("a", 1), commit_for("b", 0)]
    result = await store.ingest(items, applied=steps)

    # The step for the second item of `a` assumed the first was applied; it
    # was a duplicate, so the second waits in the inbox for the key's turn.
    assert result.applied == (False, False, True)
    assert result.inbox_ids[0] is None and result.inbox_ids[1] is not None
    assert result.duplicates == 1
    assert await store.journal("orders", "a") == []
    assert [r.input["n"] for r in await store.inbox_for("orders", "a")] == [1, 2]
    assert [j.seq for j in await store.journal("orders", "b")] == [0]


async def test_an_item_left_to_the_inbox_sends_the_rest_of_its_key_there(
    store: Store, commit_for: CommitFor
) -> None:
    items = [event("a", 1), event("a", 2), event("a", 3)]
    result = await store.ingest(items, applied=[commit_for("a", 0), None, commit_for("a", 1)])

    assert result.applied == (True, False, False)
    assert [r.input["n"] for r in await store.inbox_for("orders", "a")] == [2, 3]
    assert [j.seq for j in await store.journal("orders", "a")] == [0]


async def test_a_refused_step_queues_every_item_and_keeps_the_ingest(
    store: Store, commit_for: CommitFor
) -> None:
    await store.commit(commit_for("a", 0, state="paid"))
    await store.commit(commit_for("a", 1, state="shipped"))
    items = [event("a", 1, source="http:k2"), event("b", 2)]
    # Memory held an old snapshot of `a`: its step takes a journal seq already stored.
    result = await store.ingest(items, applied=[commit_for("a", 1), commit_for("b", 0)])

    assert result.applied == (False, False)
    assert None not in result.inbox_ids
    assert [j.seq for j in await store.journal("orders", "a")] == [0, 1]
    assert await store.journal("orders", "b") == []
    assert await store.load_instance("orders", "b") is None
    again = await store.ingest([event("a", 1, source="http:k2")])
    assert again.duplicates == 1


async def test_steps_must_match_the_items_one_to_one(store: Store, commit_for: CommitFor) -> None:
    with pytest.raises(ValueError, match="1 applied steps given for 2 items"):
        await store.ingest([event("a", 1), event("a", 2)], applied=[commit_for("a", 0)])


async def test_a_step_starting_an_instance_the_store_holds_is_refused_for_that_key(
    store: Store, commit_for: CommitFor
) -> None:
    await store.commit(commit_for("a", 0, state="paid"))
    items = [event("a", 1), event("a", 2), event("b", 3)]
    # Memory had no snapshot of `a` and stepped it as a new instance.
    steps = [commit_for("a", 0), commit_for("a", 1), commit_for("b", 0)]
    result = await store.ingest(items, applied=steps)

    assert result.applied == (False, False, True)
    assert [r.input["n"] for r in await store.inbox_for("orders", "a")] == [1, 2]
    instance = await store.load_instance("orders", "a")
    assert instance is not None and (instance.seq, instance.state) == (1, "paid")
    assert [j.seq for j in await store.journal("orders", "b")] == [0]


async def test_ingests_in_one_transaction_act_as_if_made_one_after_another(
    backend: Backend, store: Store, commit_for: CommitFor
) -> None:
    held = await hold_writer(backend, store)
    first, again, started, restarted = await asyncio.gather(
        store.ingest([event("a", 1, source="http:k1")], applied=[commit_for("a", 0)]),
        store.ingest([event("a", 1, source="http:k1")], applied=[commit_for("a", 0)]),
        store.ingest([event("b", 2)], applied=[commit_for("b", 0)]),
        store.ingest([event("b", 3)], applied=[commit_for("b", 0)]),
    )
    await held

    assert store.stats.largest_batch == 4  # the four calls shared one transaction
    assert first.applied == (True,)
    assert (again.applied, again.duplicates) == ((False,), 1)
    assert started.applied == (True,)
    # The call before it started `b`: this one's step would start it again.
    assert restarted.applied == (False,) and restarted.inbox_ids[0] is not None
    assert [j.seq for j in await store.journal("orders", "a")] == [0]
    assert [j.seq for j in await store.journal("orders", "b")] == [0]
    assert [r.input["n"] for r in await store.inbox_for("orders", "b")] == [3]


async def test_a_refused_step_in_a_shared_transaction_queues_only_its_own_call(
    backend: Backend, store: Store, commit_for: CommitFor
) -> None:
    await store.commit_steps([commit_for("a", 0, state="paid"), commit_for("a", 1)])
    held = await hold_writer(backend, store)
    stale, fresh = await asyncio.gather(
        # Memory held an old snapshot of `a`: its step takes a journal seq already stored.
        store.ingest([event("a", 1)], applied=[commit_for("a", 1)]),
        store.ingest([event("b", 2)], applied=[commit_for("b", 0)]),
    )
    await held

    assert store.stats.largest_batch == 2
    assert stale.applied == (False,) and stale.inbox_ids[0] is not None
    assert fresh.applied == (True,)
    assert [j.seq for j in await store.journal("orders", "a")] == [0, 1]
    assert [j.seq for j in await store.journal("orders", "b")] == [0]
