"""Property: whatever mix of events, time and restarts, every accepted input is applied
exactly once, the journal replays to the stored snapshots, and an effect whose result
was journaled is never run again."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from flowyard.interpreter.runtime import IncomingRecord, Runtime, VirtualClock
from flowyard.interpreter.store.sqlite import SQLiteStore
from flowyard.interpreter.verify import verify_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FLOW = """
flow: prop
version: 1
key: id
events:
  Go:
    topic: t
    match: {type: go}
    key: event.id
  Poke:
    topic: t
    match: {type: poke}
    key: event.id
effects:
  flaky:
    python: rt_test_effects:flaky
    timeout: 10s
    retry: {attempts: 3, backoff: 1s}
data:
  pokes: {type: integer, default: 0}
  runs: {type: integer, default: 0}
initial: idle
states:
  idle:
    on:
      Go:
        do:
          - call: flaky
            with: {fail: "${ event.fail }"}
          - set: {runs: "${ data.runs + 1 }"}
        goto: waiting
        catch: {goto: idle}
      Poke:
        do:
          - set: {pokes: "${ data.pokes + 1 }"}
  waiting:
    after:
      10m: {goto: idle}
    on:
      Poke:
        do:
          - set: {pokes: "${ data.pokes + 1 }"}
"""

KEYS = st.sampled_from(["a", "b", "c"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("go"), KEYS, st.integers(0, 3)),
        st.tuples(st.just("poke"), KEYS, st.just(0)),
        # Several pokes in one ingest call: idle keys are stepped on arrival, in order.
        st.tuples(st.just("pokes"), st.text("abc", min_size=2, max_size=5), st.just(0)),
        st.tuples(st.just("advance"), st.just(""), st.sampled_from([300, 1000, 2500, 600_000])),
        st.tuples(st.just("restart"), st.just(""), st.just(0)),
    ),
    max_size=25,
)


async def _scenario(
    ops: list[tuple[str, str, int]], ir: dict[str, Any], effects: ModuleType, search: list[str]
) -> None:
    calls = effects.reset()
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.db"

        async def boot() -> Runtime:
            store = await SQLiteStore.open(path, synchronous="OFF")
            rt = Runtime(store, [ir], clock, effect_search_path=search)
            await rt.start()
            return rt

        rt = await boot()
        sent: Counter[tuple[str, str]] = Counter()
        done_before: set[str] = set()  # calls whose result was durable at a restart
        checked = 0

        def rerun_calls() -> set[str]:
            # Calls invoked since the last look whose result was already journaled.
            nonlocal checked
            fresh = {ctx.call_id for _, _, ctx in calls.seen[checked:]}
            checked = len(calls.seen)
            return fresh & done_before

        for n, (op, key, arg) in enumerate(ops):
            if op == "pokes":
                batch = [
                    IncomingRecord(
                        value={"type": "poke", "id": k}, source="file:ops", position=n * 10 + i
                    )
                    for i, k in enumerate(key)
                ]
                outcomes = await rt.ingest_events("t", batch)
                assert [o.status for o in outcomes] == ["accepted"] * len(batch)
                sent.update(("poke", k) for k in key)
                continue
            if op == "go":
                value = {"type": "go", "id": key, "fail": arg}
            elif op == "poke":
                value = {"type": "poke", "id": key}
            elif op == "advance":
                await rt.advance(arg)
                continue
            else:
                await rt.drain_and_stop()
                assert rerun_calls() == set()
                probe = await SQLiteStore.open(path)
                rows = await probe.effect_calls(["succeeded", "failed"])
                done_before |= {r.call_id for r in rows}
                await probe.close()
                rt = await boot()
                await rt.wait_idle()
                continue
            record = IncomingRecord(value=value, source="file:ops", position=n * 10)
            (outcome,) = await rt.ingest_events("t", [record])
            assert outcome.status == "accepted"
            sent[(value["type"], key)] += 1
        await rt.advance(3_600_000)
        store = rt.store
        report = await verify_store(store)
        assert report.mismatches == (), report.mismatches
        for key in ("a", "b", "c"):
            journal = await store.journal("prop", key)
            names = Counter(e.input["name"] for e in journal if e.input["kind"] == "event")
            assert names["Go"] == sent[("go", key)]
            assert names["Poke"] == sent[("poke", key)]
            instance = await rt.get_instance("prop", key)
            if sent[("go", key)] + sent[("poke", key)]:
                assert instance is not None
                assert instance.data["pokes"] == sent[("poke", key)]
                assert instance.status == "active" and instance.state == "idle"
            assert await store.inbox_for("prop", key) == []
        assert rerun_calls() == set()
        await rt.drain_and_stop()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_restarts_lose_and_repeat_nothing(
    ops: list[tuple[str, str, int]],
    compile_yaml: Any,
    effects: ModuleType,
    effects_path: list[str],
) -> None:
    asyncio.run(_scenario(ops, compile_yaml(FLOW), effects, effects_path))
