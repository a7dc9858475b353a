"""What the store holds now, for metrics (`Store.gauges`), and dead letters after an id."""

from __future__ import annotations

from collections.abc import Callable

from flowyard.interpreter.store import (
    DeadLetter,
    InboxItem,
    NewEffectCall,
    OutboxMessage,
    StepCommit,
    Store,
    TimerRow,
)

CommitFor = Callable[..., StepCommit]


async def test_gauges_count_instances_inbox_timers_outbox_letters_and_calls(
    store: Store, commit_for: CommitFor
) -> None:
    empty = await store.gauges(now_ms=0)
    assert (empty.instances, empty.inbox, empty.timers, empty.earliest_due_ms) == ((), 0, 0, None)

    call = NewEffectCall(call_id="c1", effect="charge", request={}, idempotency_key="i")
    emit = OutboxMessage(topic="t", key=None, value=1, headers={}, dedup_key="d1")
    await store.commit(
        commit_for(
            "a",
            timers_armed=(TimerRow(flow="orders", key="a", timer_id="t", due_ms=50),),
            effect_calls=(call,),
            outbox=(emit,),
        )
    )
    later = TimerRow(flow="orders", key="b", timer_id="t", due_ms=500)
    await store.commit(commit_for("b", timers_armed=(later,)))
    await store.commit(commit_for("c", state="done", status="completed"))
    await store.ingest(
        [InboxItem("orders", "a", {"n": 1}, 1), InboxItem("orders", "a", {"n": 2}, 1, 900)],
        dead_letters=[DeadLetter(source="s", topic=None, reason="r", payload="p", at_ms=1)],
    )

    gauges = await store.gauges(now_ms=100)
    assert sorted(gauges.instances) == [
        ("orders", "done", "completed", 1),
        ("orders", "open", "active", 2),
    ]
    assert (gauges.inbox, gauges.inbox_ready) == (2, 1)
    assert (gauges.timers, gauges.timers_due, gauges.earliest_due_ms) == (2, 1, 50)
    assert (gauges.outbox_pending, gauges.dead_letters) == (1, 1)
    assert gauges.effect_calls == (("pending", 1),)


async def test_dead_letters_after_an_id(store: Store) -> None:
    ids = [
        await store.dead_letter(
            DeadLetter(source=f"s{n}", topic=None, reason="r", payload="p", at_ms=n)
        )
        for n in range(4)
    ]
    assert [d.source for d in await store.dead_letters(after_id=ids[1])] == ["s2", "s3"]
    assert [d.source for d in await store.dead_letters(limit=1, after_id=ids[0])] == ["s1"]
    assert await store.dead_letters(after_id=ids[-1]) == []


async def test_gauges_count_what_is_stored(store: Store, commit_for: CommitFor) -> None:
    empty = await store.gauges(0)
    assert (empty.instances, empty.inbox, empty.timers, empty.dead_letters) == ((), 0, 0, 0)
    assert empty.earliest_due_ms is None

    timer = TimerRow(flow="orders", key="a", timer_id="t", due_ms=5_000)
    call = NewEffectCall(
        call_id="orders/a/0/x", effect="reserve", request={}, idempotency_key="fy-1"
    )
    message = OutboxMessage(topic="out", key="a", value=1, headers={}, dedup_key="d1")
    await store.commit(
        commit_for("a", 0, timers_armed=(timer,), effect_calls=(call,), outbox=(message,))
    )
    await store.commit(commit_for("b", 0, state="closed", status="completed"))
    await store.commit(commit_for("c", 0, status="incident"))
    await store.ingest(
        [
            InboxItem(flow="orders", key="a", input={"kind": "x"}, received_ms=1),
            InboxItem(
                flow="orders", key="a", input={"kind": "y"}, received_ms=1, not_before_ms=9_000
            ),
        ],
        dead_letters=[DeadLetter(source="http:x", topic="t", reason="bad", payload="{", at_ms=1)],
    )

    gauges = await store.gauges(6_000)
    assert sorted(gauges.instances) == [
        ("orders", "closed", "completed", 1),
        ("orders", "open", "active", 1),
        ("orders", "open", "incident", 1),
    ]
    assert (gauges.inbox, gauges.inbox_ready) == (2, 1)
    assert (gauges.timers, gauges.timers_due, gauges.earliest_due_ms) == (1, 1, 5_000)
    assert gauges.outbox_pending == 1
    assert gauges.dead_letters == 1
    assert dict(gauges.effect_calls) == {"pending": 1}
    assert (await store.gauges(4_000)).timers_due == 0


async def test_instances_page_after_a_key(store: Store, commit_for: CommitFor) -> None:
    for key in ("a", "b", "c", "d"):
        await store.commit(commit_for(key, 0))
    first = await store.instances("orders", limit=2)
    assert [r.key for r in first] == ["a", "b"]
    rest = await store.instances("orders", limit=2, after_key="b")
    assert [r.key for r in rest] == ["c", "d"]
    assert await store.instances("orders", after_key="d") == []
