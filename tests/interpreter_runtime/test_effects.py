"""Effects through the runtime: timeouts, overrides, callbacks that race ahead, and
failures that become incidents instead of crashing anything."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flowyard.interpreter.runtime import (
    EffectContext,
    EffectError,
    IncomingRecord,
    Runtime,
    SystemClock,
    VirtualClock,
)

ROOT = str(Path(__file__).resolve().parent.parent.parent)

SLOW = """
flow: slow
version: 1
key: id
events:
  Go:
    topic: go
    key: event.id
effects:
  never:
    python: rt_test_effects:never
    timeout: 150ms
    retry: {attempts: 2, backoff: 50ms, retry_on: [timeout]}
  remote:
    http:
      method: POST
      url: "${ env.REMOTE_URL + '/x' }"
initial: idle
states:
  idle:
    on:
      Go:
        - when: "has(event.remote)"
          do:
            - call: remote
          goto: done
        - do:
            - call: never
          goto: done
  done: {final: true}
"""


async def test_attempts_time_out_then_incident(
    open_store: Any, compile_yaml: Any, effects_path: list[str], effects: ModuleType
) -> None:
    rt = Runtime(
        await open_store(), [compile_yaml(SLOW)], SystemClock(), effect_search_path=effects_path
    )
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k"})])
    await rt.wait_idle()
    instance = await rt.get_instance("slow", "k")
    assert instance is not None and instance.status == "incident"
    assert instance.incident is not None and "timed out after 150ms" in instance.incident.reason
    calls = effects.CALLS.of("never")
    assert len(calls) == 2
    attempts = await rt.store.attempts(calls[0].call_id)
    assert [a.outcome for a in attempts] == ["timeout", "timeout"]
    await rt.drain_and_stop()


async def test_a_failing_template_is_an_incident_not_a_retry_loop(
    open_store: Any, compile_yaml: Any, effects_path: list[str]
) -> None:
    # REMOTE_URL is not in env: rendering the request fails, which no retry can fix.
    rt = Runtime(
        await open_store(), [compile_yaml(SLOW)], VirtualClock(), effect_search_path=effects_path
    )
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k", "remote": True})])
    await rt.wait_idle()
    instance = await rt.get_instance("slow", "k")
    assert instance is not None and instance.status == "incident"
    assert instance.incident is not None and "REMOTE_URL" in instance.incident.reason
    call = (await rt.store.effect_calls(flow="slow", key="k"))[0]
    assert (call.status, call.attempts) == ("failed", 1)
    await rt.drain_and_stop()


async def test_a_core_failure_parks_the_instance_as_an_incident(
    open_store: Any, compile_yaml: Any, effects_path: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyard.interpreter.runtime import stepper

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(stepper, "step", broken)
    rt = Runtime(
        await open_store(), [compile_yaml(SLOW)], VirtualClock(), effect_search_path=effects_path
    )
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k"})])
    await rt.wait_idle()
    instance = await rt.get_instance("slow", "k")
    assert instance is not None and instance.status == "incident"
    assert instance.incident is not None and "ZeroDivisionError: bug" in instance.incident.reason
    assert await rt.store.inbox_for("slow", "k") == []
    await rt.drain_and_stop()


async def test_callback_racing_ahead_of_the_call_result(
    open_store: Any, shared_example: Any
) -> None:
    """The carrier calls back before its HTTP answer is processed: nothing is lost."""
    holder: dict[str, Runtime] = {}
    seen: list[EffectContext] = []

    async def book_shipment(args: Any, ctx: EffectContext) -> dict[str, Any]:
        seen.append(ctx)
        assert ctx.callback_token is not None and ctx.callback_url is not None
        assert ctx.callback_url.endswith("/callbacks/" + ctx.callback_token)
        assert await holder["rt"].resolve_callback(ctx.callback_token, {"tracking": "fast"})
        return {"status": 202, "headers": {}, "body": None}

    rt = Runtime(
        await open_store(),
        [shared_example("order_fulfillment")],
        VirtualClock(),
        env={"CARRIER_URL": "http://unused.invalid"},
        effect_search_path=[ROOT],
        effect_overrides={"book_shipment": book_shipment},
    )
    holder["rt"] = rt
    await rt.start()
    placed = {"type": "order.placed", "order_id": "o9", "total": 5, "items": []}
    await rt.ingest_events("orders", [IncomingRecord(value=placed)])
    await rt.ingest_events("payments", [IncomingRecord(value={"order_id": "o9", "amount": 5})])
    await rt.advance(3_600_000)
    order = await rt.get_instance("order_fulfillment", "o9")
    assert order is not None and (order.state, order.status) == ("shipped", "completed")
    assert order.data["shipment"] == {"tracking": "fast"}
    assert len(seen) == 1
    # The same token again is accepted and changes nothing.
    assert await rt.resolve_callback(seen[0].callback_token or "", {"tracking": "again"})
    await rt.wait_idle()
    order = await rt.get_instance("order_fulfillment", "o9")
    assert order is not None and order.data["shipment"] == {"tracking": "fast"}
    await rt.drain_and_stop()


async def test_cancelling_an_instance_stops_its_running_call(
    open_store: Any, compile_yaml: Any, effects_path: list[str]
) -> None:
    started = asyncio.Event()
    stopped: list[str] = []

    async def never(args: Any, ctx: EffectContext) -> Any:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopped.append(ctx.call_id)
            raise

    rt = Runtime(
        await open_store(),
        [compile_yaml(SLOW.replace("timeout: 150ms", "timeout: 1h"))],
        SystemClock(),
        effect_search_path=effects_path,
        effect_overrides={"never": never},
    )
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k"})])
    await asyncio.wait_for(started.wait(), 10)
    assert rt.effects_in_flight == 1

    await rt.cancel("slow", "k", reason="operator")
    await asyncio.wait_for(rt.wait_idle(), 10)
    instance = await rt.get_instance("slow", "k")
    assert instance is not None and instance.status == "cancelled"
    assert rt.effects_in_flight == 0
    (call,) = await rt.store.effect_calls(flow="slow", key="k")
    assert stopped == [call.call_id]
    assert call.status == "failed" and call.error is not None and "abandoned" in call.error
    await rt.drain_and_stop()


FOR_EACH = """
flow: fanout
version: 1
key: id
events:
  Go: {topic: go, key: event.id}
effects:
  work:
    python: rt_test_effects:never
    retry: {attempts: 1}
initial: idle
states:
  idle:
    on:
      Go:
        do:
          - call: work
            for_each: "${ [1, 2] }"
            concurrency: 2
            with: {n: "${ item }"}
        catch:
          goto: failed
        goto: done
  done: {final: true}
  failed: {final: true}
"""


async def test_a_catch_stops_the_other_calls_of_its_for_each(
    open_store: Any, compile_yaml: Any, effects_path: list[str]
) -> None:
    async def work(args: Any, ctx: EffectContext) -> Any:
        if args["n"] == 1:
            await asyncio.sleep(0.05)
            raise EffectError("boom", retryable=False)
        await asyncio.sleep(3600)

    rt = Runtime(
        await open_store(),
        [compile_yaml(FOR_EACH)],
        SystemClock(),
        effect_search_path=effects_path,
        effect_overrides={"work": work},
    )
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k"})])
    await asyncio.wait_for(rt.wait_idle(), 10)
    instance = await rt.get_instance("fanout", "k")
    assert instance is not None and (instance.state, instance.status) == ("failed", "completed")
    calls = await rt.store.effect_calls(flow="fanout", key="k")
    assert sorted((c.status, c.error) for c in calls) == [
        ("failed", "abandoned: the instance no longer awaits this call"),
        ("failed", "boom"),
    ]
    await rt.drain_and_stop()


async def test_an_effect_result_that_is_not_json_fails_the_call(
    open_store: Any, compile_yaml: Any, effects_path: list[str]
) -> None:
    async def never(args: Any, ctx: EffectContext) -> Any:
        return {"ratio": float("nan")}

    rt = Runtime(
        await open_store(),
        [compile_yaml(SLOW)],
        VirtualClock(),
        effect_search_path=effects_path,
        effect_overrides={"never": never},
    )
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k"})])
    await rt.wait_idle()
    instance = await rt.get_instance("slow", "k")
    assert instance is not None and instance.status == "incident"
    assert instance.incident is not None and "not JSON" in instance.incident.reason
    (call,) = await rt.store.effect_calls(flow="slow", key="k")
    assert (call.status, call.attempts) == ("failed", 1)  # not retried: it would not change
    await rt.drain_and_stop()


async def test_a_failing_store_delays_an_effect_result_but_loses_nothing(
    open_store: Any,
    compile_yaml: Any,
    effects_path: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowyard.interpreter.runtime.effects import runner
    from flowyard.interpreter.store import StoreError

    monkeypatch.setattr(runner, "STORE_RETRY_FIRST_S", 0.01)

    async def never(args: Any, ctx: EffectContext) -> Any:
        return {"done": True}

    store = await open_store()
    rt = Runtime(
        store,
        [compile_yaml(SLOW)],
        SystemClock(),
        effect_search_path=effects_path,
        effect_overrides={"never": never},
    )
    await rt.start()
    real_ingest = store.ingest
    refused: list[int] = []

    async def flaky_ingest(items: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("effect_updates") and len(refused) < 2:
            refused.append(1)
            raise StoreError("disk I/O error")
        return await real_ingest(items, *args, **kwargs)

    monkeypatch.setattr(store, "ingest", flaky_ingest)
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k"})])
    await asyncio.wait_for(rt.wait_idle(), 10)
    assert len(refused) == 2
    instance = await rt.get_instance("slow", "k")
    assert instance is not None and (instance.state, instance.status) == ("done", "completed")
    (call,) = await rt.store.effect_calls(flow="slow", key="k")
    assert (call.status, call.attempts) == ("succeeded", 1)
    await rt.drain_and_stop()
