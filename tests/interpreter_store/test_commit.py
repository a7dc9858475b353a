"""Step commits: snapshot, journal, consumed inbox rows, timers, effects, conflicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flowyard.interpreter.store import (
    CallbackRegistration,
    ConflictError,
    EffectAttempt,
    EffectCallUpdate,
    InboxItem,
    IrVersion,
    NewEffectCall,
    StepCommit,
    Store,
    TimerRow,
)

CommitFor = Callable[..., StepCommit]


def event(key: str, n: int, flow: str = "orders") -> InboxItem:
    return InboxItem(flow=flow, key=key, input={"n": n}, received_ms=n)


async def test_commit_writes_snapshot_and_journal_and_consumes(
    store: Store, commit_for: CommitFor
) -> None:
    ingested = await store.ingest([event("a", 1), event("a", 2), event("b", 3)])
    first_a = ingested.inbox_ids[0]
    assert first_a is not None
    await store.commit(commit_for("a", 0, state="paid", consumed=(first_a,)))

    instance = await store.load_instance("orders", "a")
    assert instance is not None
    assert (instance.seq, instance.state, instance.status) == (1, "paid", "active")
    assert instance.snapshot == {"state": "paid", "data": {}, "seq": 1}
    journal = await store.journal("orders", "a")
    assert [(j.seq, j.input, j.trace) for j in journal] == [
        (0, {"kind": "event", "n": 0}, {"to": "paid"})
    ]
    assert [r.input["n"] for r in await store.inbox_for("orders", "a")] == [2]
    assert await store.load_instance("orders", "b") is None

    await store.commit(commit_for("a", 1, state="shipped", status="completed"))
    assert [j.seq for j in await store.journal("orders", "a")] == [0, 1]
    assert [j.seq for j in await store.journal("orders", "a", after_seq=0)] == [1]
    listed = await store.instances(status="completed")
    assert [(i.key, i.state) for i in listed] == [("a", "shipped")]
    assert await store.instances("orders", state="paid") == []
    assert await store.instances("other") == []


async def test_a_taken_seq_is_a_conflict_and_writes_nothing(
    store: Store, commit_for: CommitFor
) -> None:
    await store.commit(commit_for("a", 0, state="paid"))
    ingested = await store.ingest([event("a", 1)])
    duplicate = commit_for(
        "a",
        0,
        state="elsewhere",
        consumed=ingested.accepted,
        timers_armed=(TimerRow(flow="orders", key="a", timer_id="t", due_ms=9),),
    )
    with pytest.raises(ConflictError, match="already stored"):
        await store.commit(duplicate)
    instance = await store.load_instance("orders", "a")
    assert instance is not None and instance.state == "paid"
    assert len(await store.inbox_for("orders", "a")) == 1
    assert await store.timers_for("orders", "a") == []


async def test_each_instances_journal_reads_back_in_order_among_others(
    store: Store, commit_for: CommitFor
) -> None:
    await store.commit_steps([commit_for(k, 0) for k in "abc"])
    for seq in range(1, 6):
        await store.commit_steps([commit_for("a", seq), commit_for("b", seq)])
    await store.commit_steps([commit_for("c", seq) for seq in range(1, 4)])
    assert [j.seq for j in await store.journal("orders", "a")] == [0, 1, 2, 3, 4, 5]
    assert [j.seq for j in await store.journal("orders", "b", after_seq=3)] == [4, 5]
    assert [j.seq for j in await store.journal("orders", "c")] == [0, 1, 2, 3]
    assert await store.journal("orders", "c", after_seq=3) == []
    assert await store.journal("orders", "nobody") == []
    with pytest.raises(ConflictError, match="already stored"):
        await store.commit_steps([commit_for("c", 4), commit_for("c", 4)])
    with pytest.raises(ConflictError, match="already stored"):
        await store.commit(commit_for("b", 2))
    assert [j.seq for j in await store.journal("orders", "c")] == [0, 1, 2, 3]


async def test_state_and_status_are_found_by_their_new_values_whichever_changed(
    store: Store, commit_for: CommitFor
) -> None:
    async def found(**where: str) -> list[str]:
        return [i.key for i in await store.instances("orders", **where)]

    await store.commit_steps([commit_for("a", 0), commit_for("b", 0)])
    steps = [
        ("paid", "active"),  # the state changes
        ("paid", "done"),  # the status changes
        ("paid", "done"),  # neither
        ("open", "active"),  # both
    ]
    for seq, (state, status) in enumerate(steps, start=1):
        await store.commit_steps([commit_for("a", seq, state=state, status=status)])
        assert await found(state=state) == ["a"] + (["b"] if state == "open" else [])
        assert await found(status=status) == ["a"] + (["b"] if status == "active" else [])
        other_state = "open" if state == "paid" else "paid"
        assert await found(state=other_state) == (["b"] if other_state == "open" else [])
    row = await store.load_instance("orders", "a")
    assert row is not None and (row.seq, row.state, row.status) == (5, "open", "active")


async def test_consuming_a_missing_or_foreign_inbox_row_is_a_conflict(
    store: Store, commit_for: CommitFor
) -> None:
    ingested = await store.ingest([event("b", 1)])
    with pytest.raises(ConflictError, match="gone"):
        await store.commit(commit_for("a", 0, consumed=ingested.accepted))
    with pytest.raises(ConflictError, match="gone"):
        await store.commit(commit_for("a", 0, consumed=(999,)))
    assert await store.load_instance("orders", "a") is None
    assert await store.journal("orders", "a") == []


async def test_many_turns_in_one_call_keep_each_keys_last_snapshot(
    store: Store, commit_for: CommitFor
) -> None:
    # More rows than one statement carries; each key's two steps in one turn.
    keys = [f"k{i:04d}" for i in range(700)]
    ingested = await store.ingest([event(k, n) for k in keys for n in (0, 1)])
    ids = iter(ingested.inbox_ids)
    turns = [
        [
            commit_for(k, 0, state="one", consumed=(next(ids),)),
            commit_for(k, 1, state="two", consumed=(next(ids),)),
        ]
        for k in keys
    ]
    await store.commit_steps([c for turn in turns for c in turn])
    instances = {i.key: i for i in await store.instances("orders")}
    assert len(instances) == 700
    assert {(i.seq, i.state) for i in instances.values()} == {(2, "two")}
    assert [j.seq for j in await store.journal("orders", "k0699")] == [0, 1]
    assert await store.keys_with_ready_inbox(now_ms=10**9) == []


async def test_timers_by_due_time_cancel_and_rearm(store: Store, commit_for: CommitFor) -> None:
    def timer(key: str, timer_id: str, due: int) -> TimerRow:
        return TimerRow(flow="orders", key=key, timer_id=timer_id, due_ms=due)

    await store.commit(commit_for("a", 0, timers_armed=(timer("a", "remind", 300),)))
    await store.commit(
        commit_for("b", 0, timers_armed=(timer("b", "expire", 100), timer("b", "remind", 200)))
    )
    assert await store.next_timer_due() == 100
    assert [(t.key, t.timer_id) for t in await store.due_timers(250)] == [
        ("b", "expire"),
        ("b", "remind"),
    ]
    assert len(await store.due_timers(1000, limit=2)) == 2

    await store.commit(
        commit_for(
            "b",
            1,
            timers_cancelled=("expire", "remind"),
            timers_armed=(timer("b", "remind", 900),),
        )
    )
    assert await store.timers_for("orders", "b") == [timer("b", "remind", 900)]
    assert await store.next_timer_due() == 300

    fired = timer("a", "remind", 300)
    stale = timer("b", "remind", 100)
    result = await store.ingest(
        [InboxItem(flow="orders", key="a", input={"timer": "remind"}, received_ms=300)],
        timers_fired=[fired, stale],
    )
    assert len(result.accepted) == 1
    assert await store.timers_for("orders", "a") == []
    assert await store.timers_for("orders", "b") == [timer("b", "remind", 900)]


async def test_effect_calls_attempts_and_results(store: Store, commit_for: CommitFor) -> None:
    call = NewEffectCall(
        call_id="orders/a/0/charge",
        effect="charge",
        request={"amount": 5},
        idempotency_key="idem-1",
    )
    await store.commit(commit_for("a", 0, status="running", effect_calls=(call,)))
    pending = await store.effect_calls("pending")
    assert [c.call_id for c in pending] == [call.call_id]
    assert pending[0].request == {"amount": 5}
    assert (pending[0].attempts, pending[0].created_ms) == (0, 1_000)

    started = EffectAttempt(
        call_id=call.call_id, attempt=1, idempotency_key="idem-1", started_ms=1_100
    )
    await store.record_attempt(
        started, EffectCallUpdate(call_id=call.call_id, status="running", at_ms=1_100)
    )
    finished = EffectAttempt(
        call_id=call.call_id,
        attempt=1,
        idempotency_key="idem-1",
        started_ms=1_100,
        finished_ms=1_200,
        outcome="ok",
    )
    await store.record_attempt(finished)
    await store.ingest(
        [InboxItem(flow="orders", key="a", input={"call": call.call_id}, received_ms=1_200)],
        effect_updates=[
            EffectCallUpdate(
                call_id=call.call_id, status="succeeded", result={"charged": 5}, at_ms=1_200
            )
        ],
    )
    done = await store.effect_call(call.call_id)
    assert done is not None
    assert (done.status, done.attempts, done.result, done.updated_ms) == (
        "succeeded",
        1,
        {"charged": 5},
        1_200,
    )
    assert await store.attempts(call.call_id) == [finished]
    await store.update_effect_calls([EffectCallUpdate(call_id=call.call_id, status="succeeded")])
    unchanged = await store.effect_call(call.call_id)
    assert unchanged is not None and unchanged.updated_ms == 1_200
    assert await store.effect_calls(["pending", "running"]) == []
    assert [c.call_id for c in await store.effect_calls(flow="orders", key="a")] == [call.call_id]

    with pytest.raises(ConflictError):
        await store.commit(commit_for("a", 1, effect_calls=(call,)))
    with pytest.raises(ConflictError):
        await store.update_effect_calls(
            [EffectCallUpdate(call_id="nope", status="failed", at_ms=1)]
        )
    with pytest.raises(ConflictError):
        await store.record_attempt(
            EffectAttempt(call_id="nope", attempt=1, idempotency_key="x", started_ms=1)
        )


async def test_callback_tokens(store: Store, commit_for: CommitFor) -> None:
    call = NewEffectCall(
        call_id="orders/a/0/approve", effect="approve", request={}, idempotency_key="i"
    )
    await store.commit(
        commit_for(
            "a",
            0,
            effect_calls=(call,),
            callbacks=(CallbackRegistration(call_id=call.call_id, token="tok-1"),),
        )
    )
    await store.commit(
        commit_for("b", 0, callbacks=(CallbackRegistration(call_id="orders/b/0/w", token="tok-2"),))
    )
    found = await store.call_by_token("tok-1")
    assert found is not None
    assert (found.call_id, found.status, found.effect) == (
        call.call_id,
        "awaiting_callback",
        "approve",
    )
    created = await store.call_by_token("tok-2")
    assert created is not None and (created.key, created.effect) == ("b", "callback")
    assert await store.call_by_token("tok-3") is None
    with pytest.raises(ConflictError, match="in use"):
        await store.commit(
            commit_for("c", 0, callbacks=(CallbackRegistration(call_id="c/x", token="tok-1"),))
        )


async def test_a_commit_can_enqueue_inputs_and_bad_json_fails_alone(
    store: Store, commit_for: CommitFor
) -> None:
    await store.commit(commit_for("a", 0, inbox=(event("b", 7, flow="shipping"),)))
    assert [r.input for r in await store.inbox_for("shipping", "b")] == [{"n": 7}]
    with pytest.raises(TypeError):
        await store.commit(commit_for("c", 0, data={"x": object()}))
    assert await store.load_instance("orders", "c") is None


def test_stored_json_is_compact_utf8_and_takes_what_the_standard_encoder_takes() -> None:
    from flowyard.interpreter.store.sqlite_rows import dumps

    assert (
        dumps({"s": "héllo/\u2028", "n": [1, 2.5, None]}) == '{"s":"héllo/\u2028","n":[1,2.5,null]}'
    )
    assert dumps({"big": 2**70, 1: "int key"}) == '{"big":1180591620717411303424,"1":"int key"}'


def test_commit_refuses_an_instance_of_another_key(commit_for: CommitFor) -> None:
    good = commit_for("a", 0)
    with pytest.raises(ValueError, match="another"):
        type(good)(flow="orders", key="b", instance=good.instance, journal=None)


async def test_ir_versions_are_kept_once_per_hash(store: Store) -> None:
    v1 = IrVersion(hash="h1", flow="orders", version="1", ir={"states": ["a"]}, loaded_ms=1)
    v2 = IrVersion(hash="h2", flow="orders", version="2", ir={"states": ["a", "b"]}, loaded_ms=2)
    other = IrVersion(hash="h3", flow="shipping", version="1", ir={}, loaded_ms=3)
    for ir in (v1, v2, other):
        await store.save_ir(ir)
    await store.save_ir(IrVersion(hash="h1", flow="orders", version="1", ir={}, loaded_ms=9))
    assert await store.load_irs() == [v1, v2, other]
    assert await store.load_irs("orders") == [v1, v2]
