"""Crash and restart: effects re-issued with the same key, completed ones not re-run,
timers that fell due while down fire at start-up."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from flowyard.interpreter.runtime import IncomingRecord, Runtime, VirtualClock

TWO_CALLS = """
flow: two_calls
version: 1
key: id
events:
  Go:
    topic: go
    key: event.id
effects:
  first:
    python: rt_test_effects:work
  second:
    python: rt_test_effects:work
    timeout: 1h
data:
  a: {type: object, default: {}}
  b: {type: object, default: {}}
initial: idle
states:
  idle:
    on:
      Go:
        do:
          - call: first
            with: {id: "${ key }"}
            result: a
          - call: second
            with: {id: "${ key }", gate: "${ event.gate }"}
            result: b
        goto: done
  done: {final: true}
"""

TIMED = (Path(__file__).with_name("fixtures") / "timed.flow.yaml").read_text()


async def test_effect_in_flight_is_reissued_and_completed_one_is_not(
    open_store: Any,
    compile_yaml: Any,
    effects_path: list[str],
    effects: ModuleType,
    eventually: Any,
) -> None:
    ir = compile_yaml(TWO_CALLS)
    clock = VirtualClock()
    rt = Runtime(await open_store(), [ir], clock, effect_search_path=effects_path)
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k", "gate": "g"})])
    await eventually(lambda: len(effects.CALLS.seen) == 2)  # `second` waits on its gate
    seen = effects.CALLS.seen
    assert [ctx.effect for _, _, ctx in seen] == ["first", "second"]
    second_key = seen[1][2].idempotency_key
    await rt.drain_and_stop()  # cancels the running call; it stays `running` in the store

    effects.CALLS.gate("g").set()  # the re-issued attempt will go through
    rt2 = Runtime(
        await open_store(), [ir], VirtualClock(clock.now_ms()), effect_search_path=effects_path
    )
    await rt2.start()
    await rt2.wait_idle()
    calls = [ctx for _, _, ctx in effects.CALLS.seen]
    assert [c.effect for c in calls] == ["first", "second", "second"]
    assert calls[2].idempotency_key == second_key
    assert calls[2].attempt == 2  # the interrupted attempt counts
    instance = await rt2.get_instance("two_calls", "k")
    assert instance is not None and instance.status == "completed"
    assert instance.data["b"]["done"] == "k"
    attempts = await rt2.store.attempts(calls[2].call_id)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, None), (2, "ok")]
    await rt2.drain_and_stop()


async def test_result_journaled_before_crash_is_not_rerun(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    ir = compile_yaml(TWO_CALLS)
    rt = Runtime(await open_store(), [ir], VirtualClock(), effect_search_path=effects_path)
    await rt.start()
    effects.CALLS.gate("open").set()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k", "gate": "open"})])
    await rt.wait_idle()
    await rt.drain_and_stop()
    assert len(effects.CALLS.seen) == 2

    rt2 = Runtime(await open_store(), [ir], VirtualClock(), effect_search_path=effects_path)
    await rt2.start()
    await rt2.wait_idle()
    assert len(effects.CALLS.seen) == 2
    instance = await rt2.get_instance("two_calls", "k")
    assert instance is not None and instance.status == "completed"
    await rt2.drain_and_stop()


async def test_overdue_timer_fires_at_startup(open_store: Any, compile_yaml: Any) -> None:
    ir = compile_yaml(TIMED)
    clock = VirtualClock()
    rt = Runtime(await open_store(), [ir], clock)
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "t"})])
    await rt.wait_idle()
    instance = await rt.get_instance("timed", "t")
    assert instance is not None and instance.state == "waiting"
    due = instance.timers["waiting/after/0"]
    assert due == clock.now_ms() + 3_600_000
    await rt.advance(30 * 60_000)  # half way: nothing fires
    instance = await rt.get_instance("timed", "t")
    assert instance is not None and instance.state == "waiting"
    await rt.drain_and_stop()

    # Down for three hours; the timer is overdue when the next process starts.
    later = VirtualClock(clock.now_ms() + 3 * 3_600_000)
    rt2 = Runtime(await open_store(), [ir], later)
    await rt2.start()
    await rt2.wait_idle()
    instance = await rt2.get_instance("timed", "t")
    assert instance is not None
    assert (instance.state, instance.data["fired"]) == ("expired", 1)
    journal = await rt2.store.journal("timed", "t")
    assert journal[-1].input == {
        "kind": "timer",
        "timer_id": "waiting/after/0",
        "at_ms": later.now_ms(),
    }
    assert await rt2.store.timers_for("timed", "t") == []
    await rt2.drain_and_stop()


async def test_timer_fires_when_due(open_store: Any, compile_yaml: Any) -> None:
    clock = VirtualClock()
    rt = Runtime(await open_store(), [compile_yaml(TIMED)], clock)
    await rt.start()
    start = clock.now_ms()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "t"})])
    await rt.advance(3_600_000 - 1)
    instance = await rt.get_instance("timed", "t")
    assert instance is not None and instance.state == "waiting"
    await rt.advance(1)
    instance = await rt.get_instance("timed", "t")
    assert instance is not None and instance.state == "expired"
    journal = await rt.store.journal("timed", "t")
    assert journal[-1].at_ms == start + 3_600_000
    await rt.drain_and_stop()
