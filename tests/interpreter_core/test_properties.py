"""Random input sequences: `step` never raises, is deterministic, and replay rebuilds the instance."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_helpers import SHARED_EXAMPLES, Driver
from flowyard.compiler.api import compile_file
from flowyard.interpreter.core import step
from flowyard.interpreter.model import (
    Cancel,
    EffectResult,
    EventInput,
    Input,
    Instance,
    RetryIncident,
    SignalInput,
    TimerInput,
)
from flowyard.interpreter.program import Program
from flowyard.interpreter.replay import replay
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROGRAMS: dict[str, Program] = {}


def program(name: str) -> Program:
    if name not in PROGRAMS:
        ir, diagnostics = compile_file(SHARED_EXAMPLES / f"{name}.flow.yaml")
        assert ir is not None, diagnostics
        PROGRAMS[name] = Program.from_ir(ir)
    return PROGRAMS[name]


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2000), st.floats(-10, 2000), st.text(max_size=4)
)
# Payloads mostly well-formed, sometimes not: missing fields and wrong types must only
# ever produce incidents.
field_values = st.one_of(
    json_scalars,
    st.lists(st.fixed_dictionaries({"url": st.text(max_size=3)}), max_size=4),
    st.just("2026-01-31T10:00:00Z"),
)

FIELDS = ["type", "order_id", "total", "items", "amount", "address", "approved", "account_id",
          "plan", "renews_at", "id", "kind", "payload"]


def payloads() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6)


def next_input(draw: st.DrawFn, prog: Program, inst: Instance | None, now: int) -> Input:
    choices = ["event", "event", "event", "signal", "cancel", "retry"]
    pending_calls = sorted(inst.pending.call_ids()) if inst and inst.pending else []
    timers = sorted(inst.timers) if inst else []
    if pending_calls:
        choices += ["result"] * 8
    if timers:
        choices += ["timer"] * 3
    kind = draw(st.sampled_from(choices))
    if kind == "event":
        name = draw(st.sampled_from(sorted(prog.events)))
        return EventInput(name, draw(payloads()), {"topic": prog.events[name].topic}, now)
    if kind == "signal":
        names = sorted(prog.signals) or ["unknown"]
        return SignalInput(draw(st.sampled_from(names)), draw(payloads()), now)
    if kind == "timer":
        return TimerInput(draw(st.sampled_from(timers)), now)
    if kind == "result":
        cid = draw(st.sampled_from(pending_calls))
        ok = draw(st.booleans() | st.just(True))
        phase = draw(st.sampled_from(["call", "call", "callback"]))
        value = draw(st.one_of(json_scalars, payloads(), st.lists(payloads(), max_size=3)))
        return EffectResult(cid, ok, value if ok else None, None if ok else "boom", phase, now)
    if kind == "cancel":
        return Cancel(now, "test")
    return RetryIncident(now)


@pytest.mark.parametrize("name", ["order_fulfillment", "subscription", "webhook_fanout"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_random_inputs_never_raise_and_replay_rebuilds(name: str, data: st.DataObject) -> None:
    prog = program(name)
    d = Driver(prog, key="k", env={"CARRIER_URL": "http://c", "MAILER_URL": "http://m"})
    for _ in range(data.draw(st.integers(1, 25), label="length")):
        now = d.tick(data.draw(st.integers(0, 3_600_000), label="dt"))
        inp = next_input(data.draw, prog, d.instance, now)
        if d.instance is not None and not d.instance.accepts(inp):
            # The shell would keep it in the inbox; step must still not raise on it.
            step(prog, d.instance, inp, env=d.env)
            continue
        result = d.send(inp)
        again = step(prog, d.before, inp, key="k", env=d.env)
        assert json.dumps(again.to_json()) == json.dumps(result.to_json())
        inst = result.instance
        assert Instance.from_json(json.loads(json.dumps(inst.to_json()))) == inst
        assert (inst.status == "running") == (inst.pending is not None and inst.incident is None)
        assert inst.status != "incident" or inst.incident is not None
        if inst.status in ("completed", "cancelled"):
            assert inst.timers == {} and inst.pending is None
    assert replay(prog, d.journal, key="k", env=d.env) == d.instance
