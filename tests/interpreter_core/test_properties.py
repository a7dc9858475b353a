"""Random input sequences: `step` never raises, is deterministic, and replay rebuilds it all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_helpers import (
    EXAMPLE_DIR,
    Driver,
    binop,
    call,
    emit_effect,
    fn,
    make_ir,
    mapping,
    path,
    python_effect,
    set_,
    state,
    trans,
)
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
        if name == "kitchen_sink":
            PROGRAMS[name] = Program.from_ir(kitchen_sink())
        else:
            ir, diagnostics = compile_file(EXAMPLE_DIR / f"{name}.flow.yaml")
            assert ir is not None, diagnostics
            PROGRAMS[name] = Program.from_ir(ir)
    return PROGRAMS[name]


def kitchen_sink() -> dict[str, Any]:
    """Every construct in a few states: callbacks, for_each, emit, defer, always, timers."""
    n_plus_1 = binop("+", path("data.n"), 1)
    return make_ir(
        {
            "s0": state(
                on={
                    "E1": [
                        trans(
                            "s0/on/E1/0",
                            "s1",
                            actions=[
                                call(
                                    "s0/on/E1/0/do/0",
                                    "cb",
                                    mapping(a=path("event.total")),
                                    result="r",
                                ),
                                call("s0/on/E1/0/do/1", "pub", mapping(r=path("data.r"))),
                            ],
                            catch={
                                "actions": [set_("s0/on/E1/0/catch/0", caught=True)],
                                "target": "s2",
                            },
                        )
                    ]
                },
                timers=[
                    {
                        "id": "s0/after/0",
                        "kind": "after",
                        "delay_ms": 1000,
                        "candidates": [trans("s0/after/0/0", "s1")],
                    }
                ],
                defer=["E3"],
            ),
            "s1": state(
                enter=[set_("s1/enter/0", n=n_plus_1)],
                exit=[call("s1/exit/0", "pub", mapping(left="s1"))],
                always=[trans("s1/always/0", "s2", when=binop(">=", path("data.n"), 4))],
                on={
                    "E2": [
                        trans(
                            "s1/on/E2/0",
                            "s0",
                            when=binop(">", fn("size", path("event.items")), 0),
                            actions=[
                                call(
                                    "s1/on/E2/0/do/0",
                                    "fx",
                                    mapping(i=path("item")),
                                    result="xs",
                                    for_each=path("event.items"),
                                    concurrency=2,
                                )
                            ],
                        ),
                        trans("s1/on/E2/1", None, actions=[set_("s1/on/E2/1/do/0", n=n_plus_1)]),
                    ],
                    "E3": [
                        trans(
                            "s1/on/E3/0",
                            None,
                            actions=[
                                set_("s1/on/E3/0/do/0", seen=binop("+", path("data.seen"), 1))
                            ],
                        )
                    ],
                },
                timers=[
                    {
                        "id": "s1/at/0",
                        "kind": "at",
                        "time": binop("+", path("now"), fn("duration", "5m")),
                        "candidates": [trans("s1/at/0/0", "s0")],
                    }
                ],
            ),
            "s2": state(on={"E1": [trans("s2/on/E1/0", "s0")], "E4": [trans("s2/on/E4/0", "end")]}),
            "end": state(final=True),
        },
        events=["E1", "E2", "E3", "E4"],
        effects={
            "cb": python_effect(callback_ms=60_000),
            "fx": python_effect(),
            "pub": emit_effect(key=path("key")),
        },
        data={
            "n": ({"type": "integer"}, 0),
            "r": ({}, None),
            "xs": ({}, None),
            "seen": ({"type": "integer"}, 0),
            "caught": ({"type": "boolean"}, False),
        },
    )


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

FIELDS = [
    "type",
    "order_id",
    "total",
    "items",
    "amount",
    "address",
    "approved",
    "account_id",
    "plan",
    "renews_at",
    "id",
    "kind",
    "payload",
]

# A payload that fits every example event's schema (extra fields are allowed).
good_payloads = st.fixed_dictionaries(
    {
        "order_id": st.just("k"),
        "account_id": st.just("k"),
        "id": st.just("k"),
        "total": st.integers(0, 2000),
        "amount": st.integers(0, 2000),
        "items": st.lists(st.fixed_dictionaries({"sku": st.text(max_size=2)}), max_size=2),
        "address": st.text(max_size=4),
        "approved": st.booleans(),
        "plan": st.sampled_from(["pro", "basic"]),
        "renews_at": st.sampled_from(["2026-01-31T10:00:00Z", "2026-02-01T00:00:00+02:00"]),
        "kind": st.just("user.created"),
        "payload": st.fixed_dictionaries({"u": st.integers(0, 9)}),
    }
)


def payloads() -> st.SearchStrategy[dict[str, Any]]:
    bad = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6)
    return st.one_of(good_payloads, good_payloads, good_payloads, bad)


def next_input(draw: st.DrawFn, prog: Program, inst: Instance | None, now: int) -> Input:
    choices = ["event"] * 6 + ["signal"] * 2 + ["cancel"]
    pending_calls = sorted(inst.pending.call_ids()) if inst and inst.pending else []
    timers = sorted(inst.timers) if inst else []
    if pending_calls:
        choices += ["result"] * 16
    if timers:
        choices += ["timer"] * 4
    if inst is not None and inst.status == "incident":
        choices += ["retry"] * 4
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
        ok = draw(st.sampled_from([True, True, True, False]))
        phase = draw(st.sampled_from(["call", "call", "callback"]))
        value = draw(
            st.one_of(
                st.lists(st.fixed_dictionaries({"url": st.text(max_size=3)}), max_size=60),
                json_scalars,
                payloads(),
            )
        )
        return EffectResult(cid, ok, value if ok else None, None if ok else "boom", phase, now)
    if kind == "cancel":
        return Cancel(now, "test")
    return RetryIncident(now)


@pytest.mark.parametrize(
    "name", ["order_fulfillment", "subscription", "webhook_fanout", "kitchen_sink"]
)
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
