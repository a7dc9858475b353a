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
