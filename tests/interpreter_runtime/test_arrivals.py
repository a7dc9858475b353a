"""Records for idle keys are stepped on arrival, their steps committed with them."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest
from flowyard.interpreter.runtime import IncomingRecord, Runtime, VirtualClock

JOBS = """
flow: jobs
version: 1
key: id
events:
  Job:
    topic: jobs
    key: event.id
  Extra:
    topic: extras
    match: {kind: extra}
    key: event.id
  Later:
    topic: extras
    match: {kind: later}
    key: event.id
    delay: 1m
effects:
  work:
    python: rt_test_effects:work
    timeout: 30s
data:
  out: {type: object, default: {}}
  extras: {type: integer, default: 0}
initial: idle
states:
  idle:
    on:
      Job:
        do:
          - call: work
            with: {id: "${ key }", gate: "${ has(event.gate) ? event.gate : '' }"}
            result: out
        goto: done
  done:
    on:
      Extra:
        do:
          - set: {extras: "${ data.extras + 1 }"}
      Later:
        do:
          - set: {extras: "${ data.extras * 10 }"}
"""

COUNTER = """
flow: counter
version: 1
key: id
events:
  Tick:
    topic: ticks
    key: event.id
data:
  n: {type: integer, default: 0}
initial: counting
states:
  counting:
    on:
      Tick:
        do:
          - set: {n: "${ data.n + 1 }"}
"""


def job(key: str, **more: Any) -> IncomingRecord:
    return IncomingRecord(value={"id": key, **more})


def extra(key: str, source: str | None = None) -> IncomingRecord:
    return IncomingRecord(value={"id": key, "kind": "extra"}, source=source)


@pytest.fixture
async def runtime(
    open_store: Any, compile_yaml: Any, effects: ModuleType, effects_path: list[str]
) -> Any:
    rt = Runtime(
        await open_store(), [compile_yaml(JOBS)], VirtualClock(), effect_search_path=effects_path
    )
    await rt.start()
    yield rt
    await rt.drain_and_stop()


async def test_an_idle_key_is_stepped_in_the_transaction_that_stores_its_input(
    runtime: Runtime, effects: ModuleType
) -> None:
    (outcome,) = await runtime.ingest_events("jobs", [job("a", gate="g")])
    (delivery,) = outcome.deliveries
    assert outcome.status == "accepted"
    assert delivery.applied and delivery.inbox_id is None
    # Durable when acknowledged: the step is journaled and nothing waits in the inbox.
    journal = await runtime.store.journal("jobs", "a")
    assert [j.input["kind"] for j in journal] == ["event"]
    assert await runtime.store.inbox_for("jobs", "a") == []
    # Its commands run once it is durable: the effect is called and its result lands.
    effects.CALLS.gate("g").set()
    await runtime.wait_idle()
    assert [ctx.key for ctx in effects.CALLS.of("work")] == ["a"]
    instance = await runtime.get_instance("jobs", "a")
    assert instance is not None and (instance.state, instance.data["out"]["done"]) == ("done", "a")


async def test_several_inputs_for_one_idle_key_are_stepped_in_order(runtime: Runtime) -> None:
    await runtime.ingest_events("jobs", [job("a")])
    await runtime.wait_idle()
    outcomes = await runtime.ingest_events("extras", [extra("a"), extra("a"), extra("a")])
    assert [d.applied for o in outcomes for d in o.deliveries] == [True, True, True]
    instance = await runtime.get_instance("jobs", "a")
    assert instance is not None and instance.data["extras"] == 3
    assert [j.seq for j in await runtime.store.journal("jobs", "a")] == [0, 1, 2, 3, 4]


async def test_input_for_a_key_mid_transition_waits_in_its_inbox(
    runtime: Runtime, effects: ModuleType, eventually: Any
) -> None:
    await runtime.ingest_events("jobs", [job("a", gate="g")])
    await eventually(lambda: effects.CALLS.of("work"))
    (outcome,) = await runtime.ingest_events("extras", [extra("a")])
    (delivery,) = outcome.deliveries
    assert not delivery.applied and delivery.inbox_id is not None
    effects.CALLS.gate("g").set()
    await runtime.wait_idle()
    instance = await runtime.get_instance("jobs", "a")
    assert instance is not None and (instance.state, instance.data["extras"]) == ("done", 1)
    assert await runtime.store.inbox_for("jobs", "a") == []


async def test_a_delayed_event_and_what_follows_it_for_its_key_wait_in_the_inbox(
    runtime: Runtime,
) -> None:
    await runtime.ingest_events("jobs", [job("a")])
    await runtime.wait_idle()
    records = [extra("a"), IncomingRecord(value={"id": "a", "kind": "later"}), extra("a")]
    outcomes = await runtime.ingest_events("extras", records)
    assert [d.applied for o in outcomes for d in o.deliveries] == [True, False, False]
    await runtime.wait_idle()
    instance = await runtime.get_instance("jobs", "a")
    assert instance is not None and instance.data["extras"] == 2
    await runtime.advance(60_000)
    instance = await runtime.get_instance("jobs", "a")
    assert instance is not None and instance.data["extras"] == 20


async def test_a_redelivered_record_is_not_applied_again(runtime: Runtime) -> None:
    await runtime.ingest_events("jobs", [job("a")])
    await runtime.wait_idle()
    first = await runtime.ingest_events("extras", [extra("a", source="http:retry-1")])
    again = await runtime.ingest_events("extras", [extra("a", source="http:retry-1")])
    assert [o.status for o in first + again] == ["accepted", "duplicate"]
    await runtime.wait_idle()
    instance = await runtime.get_instance("jobs", "a")
    assert instance is not None and instance.data["extras"] == 1


async def test_an_instance_only_the_store_holds_is_not_started_again(
    open_store: Any, compile_yaml: Any
) -> None:
    ir = compile_yaml(COUNTER)
    first = Runtime(await open_store(), [ir], VirtualClock())
    await first.start()
    await first.ingest_events("ticks", [IncomingRecord(value={"id": "c"})])
    await first.drain_and_stop()

    # A new runtime has no snapshot of `c` in memory and steps it as new; the
    # store refuses that step, and the input goes through the inbox instead.
    second = Runtime(await open_store(), [ir], VirtualClock())
    await second.start()
    (outcome,) = await second.ingest_events("ticks", [IncomingRecord(value={"id": "c"})])
    assert outcome.status == "accepted" and not outcome.deliveries[0].applied
    await second.wait_idle()
    instance = await second.get_instance("counter", "c")
    assert instance is not None and instance.data["n"] == 2
    assert [j.seq for j in await second.store.journal("counter", "c")] == [0, 1]
    (outcome,) = await second.ingest_events("ticks", [IncomingRecord(value={"id": "c"})])
    assert outcome.deliveries[0].applied
    await second.drain_and_stop()


async def test_with_step_on_arrival_off_every_input_passes_through_the_inbox(
    open_store: Any, compile_yaml: Any
) -> None:
    rt = Runtime(await open_store(), [compile_yaml(COUNTER)], VirtualClock(), step_on_arrival=False)
    await rt.start()
    for _ in range(3):
        (outcome,) = await rt.ingest_events("ticks", [IncomingRecord(value={"id": "c"})])
        assert outcome.deliveries[0].inbox_id is not None and not outcome.deliveries[0].applied
        await rt.wait_idle()
    instance = await rt.get_instance("counter", "c")
    assert instance is not None and instance.data["n"] == 3
    await rt.drain_and_stop()


async def test_input_for_a_key_with_inputs_being_stored_goes_to_its_inbox(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inputs that do not come through ingest (operator actions, signals, timers,
    # effect results, callbacks) are written to the inbox on their own; while
    # such a write is in flight, an event for the key must not be stepped ahead
    # of it, so it goes to the inbox too, behind the write already submitted.
    await runtime.ingest_events("jobs", [job("a")])
    await runtime.wait_idle()
    store = runtime.store
    ingest = store.ingest
    gate = asyncio.Event()

    async def held_cancel(items: Any, *args: Any, **kwargs: Any) -> Any:
        if any(item.input["kind"] == "cancel" for item in items):
            await gate.wait()
        return await ingest(items, *args, **kwargs)

    monkeypatch.setattr(store, "ingest", held_cancel)
    cancelling = asyncio.ensure_future(runtime.cancel("jobs", "a", "no longer needed"))
    await asyncio.sleep(0.05)
    (outcome,) = await runtime.ingest_events("extras", [extra("a")])
    assert outcome.status == "accepted" and not outcome.deliveries[0].applied
    gate.set()
    await cancelling
    await runtime.wait_idle()
    kinds = [j.input["kind"] for j in await store.journal("jobs", "a")]
    assert sorted(kinds[-2:]) == ["cancel", "event"]
    instance = await runtime.get_instance("jobs", "a")
    assert instance is not None and instance.status == "cancelled"
    assert await store.inbox_for("jobs", "a") == []
