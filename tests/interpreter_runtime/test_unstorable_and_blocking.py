"""What a step or an effect computes that the store cannot hold becomes an
incident (never a commit that fails on every retry), and an effect cannot hold
the event loop past its timeout and be counted a success."""

from __future__ import annotations

import asyncio
import time
from types import ModuleType
from typing import Any

import pytest
from flowyard.interpreter.runtime import IncomingRecord, Runtime, SystemClock
from flowyard.interpreter.runtime.looplag import LoopLagMonitor
from flowyard.interpreter.storable import Bounds

FLOW = """
flow: hostile
version: 1
key: id
events:
  Go:
    topic: go
    key: event.id
    schema:
      type: object
      required: [id, kind]
      properties:
        id: {type: string}
        kind: {type: string}
        a: {type: integer}
        b: {type: integer}
        s: {type: string}
effects:
  blocks:
    python: rt_test_effects:blocks_the_loop
    timeout: 200ms
    retry: {attempts: 1}
  threaded:
    python: rt_test_effects:sleeps_in_a_thread
    timeout: 200ms
    retry: {attempts: 1}
  unstorable:
    python: rt_test_effects:unstorable
    timeout: 5s
    retry: {attempts: 1}
data:
  n: {type: integer, default: 0}
  s: {type: string, default: ""}
  r: {default: null}
initial: idle
states:
  idle:
    on:
      Go:
        - when: event.kind == 'block'
          do:
            - call: blocks
          goto: done
        - when: event.kind == 'thread'
          do:
            - call: threaded
              with: {seconds: "${ event.a }"}
              result: r
          goto: done
        - when: event.kind == 'unstorable'
          do:
            - call: unstorable
              with: {size: "${ event.a }", raise: "${ event.b == 1 }"}
              result: r
          goto: done
        - when: event.kind == 'mul'
          do:
            - set: {n: "${ event.a * event.b }"}
          goto: done
        - when: event.kind == 'grow'
          do:
            - set: {s: "${ event.s + event.s }"}
          goto: done
  done: {final: true}
"""


async def _run(
    open_store: Any,
    compile_yaml: Any,
    effects_path: list[str],
    event: dict[str, Any],
    bounds: Bounds | None = None,
) -> tuple[Runtime, Any]:
    rt = Runtime(
        await open_store(),
        [compile_yaml(FLOW)],
        SystemClock(),
        effect_search_path=effects_path,
        bounds=bounds,
    )
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k", **event})])
    await asyncio.wait_for(rt.wait_idle(), 30)
    return rt, await rt.get_instance("hostile", "k")


async def test_an_async_effect_that_blocks_past_its_timeout_fails(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    rt, instance = await _run(open_store, compile_yaml, effects_path, {"kind": "block"})
    assert instance.status == "incident"
    assert "holding the event loop" in instance.incident.reason
    assert rt.loop_lag.max_ms > 0
    await rt.drain_and_stop()


async def test_a_plain_function_effect_runs_in_a_thread(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    rt, instance = await _run(open_store, compile_yaml, effects_path, {"kind": "thread", "a": 0})
    assert instance.status == "completed"
    assert instance.data["r"]["thread"].startswith("flowd-effect")
    await rt.drain_and_stop()


async def test_a_plain_function_effect_is_timed_out(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    rt, instance = await _run(open_store, compile_yaml, effects_path, {"kind": "thread", "a": 1})
    assert instance.status == "incident"
    assert "timed out after 200ms" in instance.incident.reason
    await rt.drain_and_stop()


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"a": 0, "b": 0}, "store can hold: the text at /text holds a lone surrogate"),
        ({"a": 0, "b": 1}, "bad \\ud800 text"),
        ({"a": 5000, "b": 0}, "more than the limit of 1,000 (flowd run --max-result-bytes)"),
    ],
)
async def test_an_effect_result_the_store_cannot_hold_is_an_incident(
    open_store: Any,
    compile_yaml: Any,
    effects_path: list[str],
    event: dict[str, Any],
    reason: str,
) -> None:
    rt, instance = await _run(
        open_store,
        compile_yaml,
        effects_path,
        {"kind": "unstorable", **event},
        Bounds(max_result_bytes=1000),
    )
    assert instance.status == "incident"
    assert reason in instance.incident.reason
    await rt.drain_and_stop()


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"kind": "mul", "a": 10**600, "b": 10**600}, "too large to store"),
        ({"kind": "grow", "s": "x" * 600}, "(flowd run --max-data-bytes)"),
    ],
)
async def test_a_computed_value_the_store_cannot_hold_is_an_incident_that_can_be_cancelled(
    open_store: Any,
    compile_yaml: Any,
    effects_path: list[str],
    event: dict[str, Any],
    reason: str,
) -> None:
    rt, instance = await _run(
        open_store, compile_yaml, effects_path, event, Bounds(max_data_bytes=1000)
    )
    assert instance.status == "incident"
    assert reason in instance.incident.reason
    await rt.cancel("hostile", "k")
    await asyncio.wait_for(rt.wait_idle(), 30)
    cancelled = await rt.get_instance("hostile", "k")
    assert cancelled is not None and cancelled.status == "cancelled"
    await rt.drain_and_stop()


async def test_a_held_event_loop_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    monitor = LoopLagMonitor(interval_s=0.01, warn_ms=100)
    monitor.start()
    await asyncio.sleep(0.02)
    time.sleep(0.3)  # a coroutine that blocks
    for _ in range(100):
        await asyncio.sleep(0.01)
        if monitor.report.stalls:
            break
    await monitor.stop()
    assert monitor.report.stalls == 1
    assert monitor.report.max_ms >= 100
    assert "the event loop was held" in caplog.text
