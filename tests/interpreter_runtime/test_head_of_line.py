"""A slow effect on one key never delays other keys."""

from __future__ import annotations

import asyncio
import time
from types import ModuleType
from typing import Any

from flowyard.interpreter.runtime import IncomingRecord, Runtime, SystemClock, Transition

JOBS = """
flow: jobs
version: 1
key: id
events:
  Job:
    topic: jobs
    key: event.id
    schema:
      type: object
      required: [id]
      properties:
        id: {type: string}
        gate: {type: string}
  Extra:
    topic: extras
    key: event.id
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
"""


async def test_slow_key_does_not_block_others(
    open_store: Any, effects: ModuleType, compile_yaml: Any, effects_path: list[str]
) -> None:
    finished: list[tuple[str, float]] = []

    def on_transition(t: Transition) -> None:
        if t.result.instance.state == "done" and t.input.kind == "effect_result":
            finished.append((t.key, time.monotonic()))

    store = await open_store()
    rt = Runtime(
        store,
        [compile_yaml(JOBS)],
        SystemClock(),
        on_transition=on_transition,
        effect_search_path=effects_path,
        max_concurrent_keys=8,
    )
    await rt.start()
    gate = effects.CALLS.gate("slow")
    # Key A's transition waits on its effect for up to 5 s (real clock) ...
    release = asyncio.get_running_loop().call_later(5.0, gate.set)
    await rt.ingest_events("jobs", [IncomingRecord(value={"id": "A", "gate": "slow"})])
    # ... and an input for A queues behind it meanwhile.
    await rt.ingest_events("extras", [IncomingRecord(value={"id": "A"})])
    started = time.monotonic()
    others = [IncomingRecord(value={"id": f"k{i}"}) for i in range(50)]
    outcomes = await rt.ingest_events("jobs", others)
    assert [o.status for o in outcomes] == ["accepted"] * 50

    deadline = time.monotonic() + 4.0
    while len(finished) < 50 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert sorted(k for k, _ in finished) == sorted(f"k{i}" for i in range(50))
    assert all(at - started < 4.0 for _, at in finished)
    a = await rt.get_instance("jobs", "A")
    assert a is not None and a.status == "running"
    assert a.data["extras"] == 0  # A's Extra waits in its inbox, in order

    gate.set()
    release.cancel()
    await rt.wait_idle()
    a = await rt.get_instance("jobs", "A")
    assert a is not None
    assert (a.state, a.status, a.data["extras"]) == ("done", "active", 1)
    assert finished[-1][0] == "A"
    await rt.drain_and_stop()


async def test_one_transition_in_flight_per_key(
    open_store: Any, effects: ModuleType, compile_yaml: Any, effects_path: list[str]
) -> None:
    store = await open_store()
    rt = Runtime(store, [compile_yaml(JOBS)], SystemClock(), effect_search_path=effects_path)
    await rt.start()
    records = [IncomingRecord(value={"id": "same", "gate": "g"})]
    records += [IncomingRecord(value={"id": "same"}) for _ in range(3)]
    await rt.ingest_events("jobs", records)
    await asyncio.sleep(0.2)
    # Only the first Job started a call; the others wait in the inbox.
    assert len(effects.CALLS.of("work")) == 1
    effects.CALLS.gate("g").set()
    await rt.wait_idle()
    # Once done, later Jobs are offered to the `done` state, which ignores them.
    assert len(effects.CALLS.of("work")) == 1
    journal = await store.journal("jobs", "same")
    assert [e.input["kind"] for e in journal] == [
        "event",
        "effect_result",
        "event",
        "event",
        "event",
    ]
    assert await store.inbox_for("jobs", "same") == []
    await rt.drain_and_stop()
