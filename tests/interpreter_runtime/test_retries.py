"""Effect retries: backoff through the clock, one idempotency key, catch and incidents."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest
from flowyard.interpreter.runtime import IncomingRecord, Runtime, VirtualClock
from flowyard.interpreter.runtime.effects.retry import AttemptFailure, RetryPolicy

FLAKY = """
flow: flaky
version: 1
key: id
events:
  Go:
    topic: go
    key: event.id
effects:
  flaky:
    python: rt_test_effects:flaky
    timeout: 10s
    retry: {attempts: ATTEMPTS, backoff: 1s, max_backoff: 1m}
  refuse:
    python: rt_test_effects:refuse
data:
  out: {type: object, default: {}}
initial: idle
states:
  idle:
    on:
      Go:
        - when: "has(event.refuse)"
          do:
            - call: refuse
          goto: done
          catch: {goto: failed}
        - do:
            - call: flaky
              with: {fail: "${ event.fail }"}
              result: out
          goto: done
  done: {final: true}
  failed: {final: true}
"""


async def _runtime(
    open_store: Any, compile_yaml: Any, effects_path: list[str], attempts: int
) -> tuple[Runtime, VirtualClock]:
    clock = VirtualClock()
    store = await open_store()
    ir = compile_yaml(FLAKY.replace("ATTEMPTS", str(attempts)))
    rt = Runtime(store, [ir], clock, effect_search_path=effects_path)
    await rt.start()
    return rt, clock


async def test_succeeds_on_third_attempt_with_backoff(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    rt, clock = await _runtime(open_store, compile_yaml, effects_path, attempts=5)
    effects.CALLS.clock_ms = clock.now_ms
    t0 = clock.now_ms()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k", "fail": 2})])
    await rt.wait_idle()
    assert len(effects.CALLS.of("flaky")) == 1  # the 2nd attempt waits for the backoff
    await rt.advance(999)
    assert len(effects.CALLS.of("flaky")) == 1
    await rt.advance(1)
    assert len(effects.CALLS.of("flaky")) == 2
    await rt.advance(2000)  # backoff doubles: 1 s, then 2 s
    contexts = effects.CALLS.of("flaky")
    assert [c.attempt for c in contexts] == [1, 2, 3]
    assert effects.CALLS.times == [t0, t0 + 1000, t0 + 3000]
    assert len({c.idempotency_key for c in contexts}) == 1
    instance = await rt.get_instance("flaky", "k")
    assert instance is not None
    assert (instance.state, instance.status) == ("done", "completed")
    assert instance.data["out"] == {"ok": True, "attempt": 3}

    call = await rt.store.effect_call(contexts[0].call_id)
    assert call is not None and (call.status, call.attempts) == ("succeeded", 3)
    attempts = await rt.store.attempts(contexts[0].call_id)
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert {a.idempotency_key for a in attempts} == {contexts[0].idempotency_key}
    assert [a.outcome for a in attempts] == ["error", "error", "ok"]
    await rt.drain_and_stop()


async def test_non_retryable_failure_goes_to_catch_at_once(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    rt, _ = await _runtime(open_store, compile_yaml, effects_path, attempts=5)
    await rt.ingest_events("go", [IncomingRecord(value={"id": "r", "refuse": True})])
    await rt.wait_idle()
    assert len(effects.CALLS.of("refuse")) == 1
    instance = await rt.get_instance("flaky", "r")
    assert instance is not None and instance.state == "failed"
    await rt.drain_and_stop()


async def test_exhausted_retries_make_an_incident_that_can_be_retried(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    rt, _ = await _runtime(open_store, compile_yaml, effects_path, attempts=2)
    await rt.ingest_events("go", [IncomingRecord(value={"id": "x", "fail": 3})])
    await rt.advance(60_000)
    instance = await rt.get_instance("flaky", "x")
    assert instance is not None and instance.status == "incident"
    assert instance.incident is not None and "transient failure" in instance.incident.reason
    assert len(effects.CALLS.of("flaky")) == 2

    await rt.retry_incident("flaky", "x")  # re-issued as a new call: 1 failure left, then ok
    await rt.advance(60_000)
    instance = await rt.get_instance("flaky", "x")
    assert instance is not None and instance.status == "completed"
    keys = [c.idempotency_key for c in effects.CALLS.of("flaky")]
    assert len(keys) == 4 and keys[0] == keys[1] and keys[2] == keys[3] != keys[0]
    await rt.drain_and_stop()


def test_backoff_delays_and_jitter() -> None:
    policy = RetryPolicy(attempts=8, backoff_ms=1000, multiplier=2.0, max_backoff_ms=5000)
    assert [policy.nominal_delay_ms(n) for n in range(1, 6)] == [1000, 2000, 4000, 5000, 5000]
    jittered = RetryPolicy(backoff_ms=1000, jitter=True, max_backoff_ms=60_000)
    rng = random.Random(7)
    for n in range(1, 5):
        nominal = jittered.nominal_delay_ms(n)
        for _ in range(50):
            assert nominal / 2 <= jittered.delay_ms(n, rng) <= nominal


@pytest.mark.parametrize(
    ("retry_on", "failure", "expected"),
    [
        (("timeout",), AttemptFailure(kind="timeout", message=""), True),
        (("5xx",), AttemptFailure(kind="timeout", message=""), False),
        (("error",), AttemptFailure(kind="error", message=""), True),
        (("5xx",), AttemptFailure(kind="status", message="", status=503), True),
        (("5xx",), AttemptFailure(kind="status", message="", status=429), False),
        (("429",), AttemptFailure(kind="status", message="", status=429), True),
        (("4xx",), AttemptFailure(kind="status", message="", status=404), True),
        (("error", "5xx"), AttemptFailure(kind="error", message="", retryable=False), False),
    ],
)
def test_retry_on(retry_on: tuple[str, ...], failure: AttemptFailure, expected: bool) -> None:
    assert RetryPolicy(retry_on=retry_on).should_retry(failure) is expected
