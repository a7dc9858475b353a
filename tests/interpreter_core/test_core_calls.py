"""Calls: suspension, for_each and concurrency, emit, catch, incidents, retry, cancel, callbacks."""

from __future__ import annotations

from typing import Any

import pytest
from core_helpers import (
    Driver,
    binop,
    call,
    emit_effect,
    make_ir,
    mapping,
    of_type,
    path,
    python_effect,
    runs,
    set_,
    state,
    trans,
)
from flowyard.interpreter.core_effects import call_id, idempotency_key, render_effect_request
from flowyard.interpreter.expr import ExprError
from flowyard.interpreter.model import (
    ArmTimer,
    AwaitCallback,
    CancelTimer,
    Completed,
    EffectResult,
    Emit,
    EventInput,
    IncidentRaised,
    RunEffect,
    TimerInput,
)
from flowyard.interpreter.program import Program

ANY: dict[str, Any] = {}


def one_call_ir(*, catch: dict[str, Any] | None = None, callback_ms: int | None = None) -> Any:
    return make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[
                                call(
                                    "a/on/Go/0/do/0", "fx", mapping(id=path("event.id")), result="r"
                                ),
                                set_("a/on/Go/0/do/1", after=path("data.r.v")),
                            ],
                            catch=catch,
                        )
                    ]
                },
                timers=[{"id": "a/after/0", "kind": "after", "delay_ms": 60_000, "candidates": []}],
            ),
            "b": state(),
            "failed": state(final=True),
        },
        events=["Go", "Start", "Other"],
        effects={"fx": python_effect(callback_ms)},
        data={"r": (ANY, None), "after": (ANY, None), "caught": (ANY, False)},
    )


def test_call_suspends_and_the_result_resumes_at_the_next_action() -> None:
    d = Driver(Program.from_ir(one_call_ir()))
    d.event("Start")
    r = d.event("Go")
    cid = "t/k1/1/a/on/Go/0/do/0"
    assert r.instance.status == "running"
    assert r.instance.state == "a"
    assert r.commands == (
        RunEffect(cid, "fx", {"id": "k1"}, idempotency_key(cid), "a/on/Go/0/do/0"),
    )
    assert r.instance.pending is not None and r.instance.pending.call_ids() == {cid}
    assert not r.instance.accepts(EventInput("Other", {}, {}, 1))
    assert not r.instance.accepts(TimerInput("a/after/0", 1))
    assert r.instance.accepts(EffectResult(cid, True, 1, None, "call", 1))
    assert not r.instance.accepts(EffectResult("other", True, 1, None, "call", 1))
    r = d.ok(cid, {"v": 7})
    assert r.instance.status == "active"
    assert r.instance.state == "b"
    assert r.instance.data["r"] == {"v": 7} and r.instance.data["after"] == 7
    assert r.trace == (
        f"result {cid}",
        "action a/on/Go/0/do/1",
        "enter b",
    )
    assert r.commands == (CancelTimer("a/after/0"),)


def test_call_ids_and_idempotency_keys_are_deterministic() -> None:
    assert call_id("f", "k", 3, "s/on/E/0/do/1") == "f/k/3/s/on/E/0/do/1"
    assert call_id("f", "k", 3, "a", item=7, retry=2) == "f/k/3/a/7/r2"
    assert idempotency_key("f/k/3/a") == idempotency_key("f/k/3/a")
    assert idempotency_key("f/k/3/a") != idempotency_key("f/k/3/a/r1")


def test_failure_without_catch_is_an_incident_then_retry_reissues_with_a_suffix() -> None:
    d = Driver(Program.from_ir(one_call_ir()))
    d.event("Start")
    cid = runs(d.event("Go").commands)[0].call_id
    r = d.fail(cid, "HTTP 500")
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert r.instance.incident.call_id == cid
    assert "HTTP 500" in r.instance.incident.reason
    assert of_type(r.commands, IncidentRaised)
    assert not r.instance.accepts(EventInput("Other", {}, {}, 1))
    r = d.retry()
    assert r.instance.status == "running"
    assert r.instance.incident is None
    (again,) = runs(r.commands)
    assert again.call_id == cid + "/r1"
    assert again.args == {"id": "k1"}
    r = d.fail(again.call_id)
    assert runs(d.retry().commands)[0].call_id == cid + "/r2"
    r = d.ok(cid + "/r2", {"v": 1})
    assert r.instance.state == "b" and r.instance.status == "active"


def test_failure_with_catch_runs_the_catch_and_goes_to_its_target() -> None:
    catch = {"actions": [set_("a/on/Go/0/catch/0", caught=True)], "target": "failed"}
    d = Driver(Program.from_ir(one_call_ir(catch=catch)))
    d.event("Start")
    cid = runs(d.event("Go").commands)[0].call_id
    r = d.fail(cid)
    assert r.instance.state == "failed" and r.instance.status == "completed"
    assert r.instance.data["caught"] is True
    assert r.instance.data["after"] is None
    assert r.trace == (
        f"failed {cid}",
        "catch a/on/Go/0",
        "action a/on/Go/0/catch/0",
        "enter failed",
        "completed",
    )
    assert Completed() in r.commands


def test_catch_without_target_stays() -> None:
    catch = {"actions": [set_("a/on/Go/0/catch/0", caught=True)], "target": None}
    d = Driver(Program.from_ir(one_call_ir(catch=catch)))
    d.event("Start")
    r = d.fail(runs(d.event("Go").commands)[0].call_id)
    assert r.instance.state == "a" and r.instance.status == "active"
    assert "a/after/0" in r.instance.timers


def test_cancel_while_running_cancels_timers_and_forgets_the_transition() -> None:
    d = Driver(Program.from_ir(one_call_ir()))
    d.event("Start")
    d.event("Go")
    r = d.cancel()
    assert r.instance.status == "cancelled"
    assert r.instance.pending is None and r.instance.timers == {}
    assert r.commands == (CancelTimer("a/after/0"),)
    assert d.cancel().trace == ("ignored cancel (cancelled)",)


def test_callback_effect_waits_for_the_callback() -> None:
    d = Driver(Program.from_ir(one_call_ir(callback_ms=5000)))
    d.event("Start")
    cid = runs(d.event("Go").commands)[0].call_id
    r = d.ok(cid, {"accepted": True})
    timer = "callback:" + cid
    assert r.instance.status == "running"
    assert r.commands == (ArmTimer(timer, d.now + 5000), AwaitCallback(cid, 5000))
    assert r.instance.timers[timer] == d.now + 5000
    assert r.instance.accepts(TimerInput(timer, d.now))
    r = d.ok(cid, {"again": True})
    assert r.trace == (f"ignored result {cid} (awaiting its callback)",)
    r = d.ok(cid, {"v": 3}, phase="callback")
    assert r.instance.state == "b" and r.instance.data["r"] == {"v": 3}
    assert CancelTimer(timer) in r.commands
    assert timer not in r.instance.timers


def test_callback_timeout_fails_the_call() -> None:
    catch = {"actions": [], "target": "failed"}
    d = Driver(Program.from_ir(one_call_ir(catch=catch, callback_ms=5000)))
    d.event("Start")
    cid = runs(d.event("Go").commands)[0].call_id
    d.ok(cid)
    r = d.fire("callback:" + cid)
    assert r.trace[:2] == (f"callback timeout {cid}", "catch a/on/Go/0")
    assert r.instance.state == "failed"

    d = Driver(Program.from_ir(one_call_ir(callback_ms=5000)))
    d.event("Start")
    cid = runs(d.event("Go").commands)[0].call_id
    d.ok(cid)
    r = d.fire("callback:" + cid)
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert "callback timed out" in r.instance.incident.reason


def fanout_ir(n_catch: bool = True, concurrency: int = 3) -> Any:
    return make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "done",
                            actions=[
                                call(
                                    "a/on/Go/0/do/0",
                                    "send",
                                    mapping(url=path("item.url"), p=path("event.p")),
                                    result="out",
                                    for_each=path("event.subs"),
                                    concurrency=concurrency,
                                )
                            ],
                            catch={"actions": [], "target": "bad"} if n_catch else None,
                        )
                    ]
                }
            ),
            "done": state(final=True),
            "bad": state(final=True),
        },
        effects={"send": python_effect()},
        data={"out": ({"type": "array"}, [])},
    )


def test_for_each_respects_concurrency_and_keeps_item_order() -> None:
    d = Driver(Program.from_ir(fanout_ir()))
    subs = [{"url": f"u{i}"} for i in range(7)]
    r = d.event("Go", {"subs": subs, "p": 1})
    issued = runs(r.commands)
    assert [c.call_id for c in issued] == [f"t/k1/0/a/on/Go/0/do/0/{i}" for i in range(3)]
    assert issued[1].args == {"url": "u1", "p": 1}
    # Results arrive out of order; each frees a slot for the next item.
    r = d.ok(issued[2].call_id, "r2")
    assert [c.call_id[-1] for c in runs(r.commands)] == ["3"]
    r = d.ok(issued[0].call_id, "r0")
    assert [c.call_id[-1] for c in runs(r.commands)] == ["4"]
    pending = d.inst.pending
    assert pending is not None and pending.call is not None
    for cid in sorted(pending.call_ids()):
        r = d.ok(cid, "r" + cid[-1])
    while d.inst.status == "running":
        assert d.inst.pending is not None
        for cid in sorted(d.inst.pending.call_ids()):
            d.ok(cid, "r" + cid[-1])
    assert d.inst.state == "done"
    assert d.inst.data["out"] == [f"r{i}" for i in range(7)]


def test_for_each_over_nothing_completes_at_once() -> None:
    r = Driver(Program.from_ir(fanout_ir())).event("Go", {"subs": [], "p": 1})
    assert r.instance.state == "done" and r.instance.data["out"] == []


def test_for_each_failure_goes_to_catch_and_abandons_the_rest() -> None:
    d = Driver(Program.from_ir(fanout_ir()))
    issued = runs(d.event("Go", {"subs": [{"url": "a"}, {"url": "b"}], "p": 0}).commands)
    r = d.fail(issued[1].call_id)
    assert r.instance.state == "bad"
    late = d.send(EffectResult(issued[0].call_id, True, 1, None, "call", d.tick()))
    assert late.trace == (f"ignored result {issued[0].call_id} (completed)",)


def test_for_each_incident_keeps_other_results_and_retries_only_the_failed() -> None:
    d = Driver(Program.from_ir(fanout_ir(n_catch=False, concurrency=2)))
    issued = runs(
        d.event("Go", {"subs": [{"url": "a"}, {"url": "b"}, {"url": "c"}], "p": 0}).commands
    )
    d.fail(issued[0].call_id)
    assert d.inst.status == "incident"
    r = d.ok(issued[1].call_id, "B")
    assert r.instance.status == "incident" and runs(r.commands) == []
    r = d.retry()
    assert [c.call_id for c in runs(r.commands)] == [
        issued[0].call_id + "/r1",
        "t/k1/0/a/on/Go/0/do/0/2",
    ]
    d.ok(issued[0].call_id + "/r1", "A")
    r = d.ok("t/k1/0/a/on/Go/0/do/0/2", "C")
    assert r.instance.state == "done" and r.instance.data["out"] == ["A", "B", "C"]


def test_emit_completes_immediately_with_a_dedup_key_from_the_call_id() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[
                                call("a/on/Go/0/do/0", "pub", mapping(s="paid"), result="sent"),
                                call("a/on/Go/0/do/1", "pub2", for_each=path("event.xs")),
                            ],
                        )
                    ]
                }
            ),
            "b": state(),
        },
        effects={
            "pub": emit_effect("updates", key=path("key")),
            "pub2": emit_effect("each", value=mapping(v=path("args"))),
        },
        data={"sent": (ANY, None)},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go", {"xs": [1, 2]})
    assert r.instance.state == "b" and r.instance.status == "active"
    emits = of_type(r.commands, Emit)
    assert emits[0] == Emit(
        "updates", "k1", {"s": "paid"}, {"x-flow": "t"}, idempotency_key("t/k1/0/a/on/Go/0/do/0")
    )
    assert [(e.topic, e.key, e.value) for e in emits[1:]] == [
        ("each", None, {"v": 1}),
        ("each", None, {"v": 2}),
    ]
    assert emits[2].dedup_key == idempotency_key("t/k1/0/a/on/Go/0/do/1/1")
    assert r.instance.data["sent"] == {"s": "paid"}


def test_render_effect_request_for_http_and_python() -> None:
    http = {
        "kind": "http",
        "http": {
            "method": "POST",
            "url": binop("+", path("env.BASE"), "/x"),
            "headers": {"X-Key": path("key")},
            "body": mapping(id=path("key"), a=path("args.a"), cb=path("callback.url")),
        },
        "timeout_ms": 1000,
        "retry": {},
        "callback": {"timeout_ms": 10},
    }
    ir = make_ir({"a": state()}, effects={"h": http, "p": python_effect()})
    program = Program.from_ir(ir)
    req = render_effect_request(
        program,
        "h",
        {"a": 1},
        "k",
        {"BASE": "http://b"},
        callback={"url": "http://cb/t", "token": "t"},
    )
    assert req == {
        "kind": "http",
        "method": "POST",
        "url": "http://b/x",
        "headers": {"X-Key": "k"},
        "body": {"id": "k", "a": 1, "cb": "http://cb/t"},
    }
    assert render_effect_request(program, "p", {"a": 1}, "k", {}) == {
        "kind": "python",
        "module": "m",
        "function": "f",
        "args": {"a": 1},
    }
    with pytest.raises(ExprError) as info:
        render_effect_request(program, "h", {"a": 1}, "k", {})
    assert info.value.pointer == "/effects/h/http/url/left"
    assert "no field 'BASE'" in info.value.message


def test_expression_error_in_an_action_is_an_incident_and_retry_resumes_there() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[
                                set_("a/on/Go/0/do/0", n=1),
                                set_("a/on/Go/0/do/1", m=binop("/", 10, path("data.d"))),
                            ],
                        )
                    ]
                }
            ),
            "b": state(),
        },
        data={"n": (ANY, 0), "m": (ANY, 0), "d": (ANY, 0)},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go")
    assert r.instance.status == "incident"
    incident = r.instance.incident
    assert incident is not None
    assert incident.pointer == "/states/a/on/Go/0/actions/1/assign/0/value"
    assert "division by zero" in incident.reason and "a/on/Go/0/do/1" in incident.reason
    r = d.retry()
    assert r.trace == ("retry", "action a/on/Go/0/do/1", "incident")


def test_guard_error_is_an_incident_and_retry_reapplies_the_input() -> None:
    ir = make_ir(
        {
            "a": state(on={"Go": [trans("a/on/Go/0", "b", when=binop(">", path("event.n"), 1))]}),
            "b": state(),
        },
        events=["Go", "Start"],
    )
    d = Driver(Program.from_ir(ir))
    d.event("Start")
    r = d.event("Go", {"x": 1})
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert r.instance.incident.pointer == "/states/a/on/Go/0/when/left"
    assert r.instance.incident.retry_input is not None
    r = d.retry()
    assert r.instance.status == "incident"
    assert r.trace == ("retry", "incident")
    assert d.cancel().instance.status == "cancelled"


def test_data_schema_violation_is_an_incident_naming_field_and_transition() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[set_("a/on/Go/0/do/0", total=path("event.total"))],
                        )
                    ]
                }
            ),
            "b": state(),
        },
        data={"total": ({"type": "number", "minimum": 0}, 0)},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go", {"total": "lots"})
    assert r.instance.status == "incident"
    incident = r.instance.incident
    assert incident is not None
    assert "'total'" in incident.reason and "a/on/Go/0" in incident.reason
    assert "is not of type 'number'" in incident.reason
    assert incident.pointer == "/data/total"
    assert d.retry().instance.status == "incident"


def test_long_running_initial_entry_applies_the_first_input_afterwards() -> None:
    ir = make_ir(
        {
            "a": state(
                enter=[call("a/enter/0", "fx", result="r")],
                on={"Go": [trans("a/on/Go/0", "b")]},
            ),
            "b": state(),
        },
        effects={"fx": python_effect()},
        data={"r": (ANY, None)},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go")
    assert r.instance.status == "running" and r.instance.state == "a"
    assert r.instance.pending is not None and r.instance.pending.then_input is not None
    r = d.ok("t/k1/0/a/enter/0", 5)
    assert r.instance.state == "b" and r.instance.data["r"] == 5
    assert r.trace == ("result t/k1/0/a/enter/0", "transition a/on/Go/0", "enter b")


def test_enter_call_failure_is_an_incident_even_with_a_catch() -> None:
    ir = make_ir(
        {
            "a": state(on={"Go": [trans("a/on/Go/0", "b", catch={"actions": [], "target": "a"})]}),
            "b": state(enter=[call("b/enter/0", "fx")]),
        },
        effects={"fx": python_effect()},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go")
    assert r.instance.state == "b" and r.instance.status == "running"
    r = d.fail(runs(r.commands)[0].call_id)
    assert r.instance.status == "incident"


def test_first_input_waits_for_a_long_running_always_transition_of_the_initial_state() -> None:
    ir = make_ir(
        {
            "route": state(
                always=[trans("route/always/0", "a", actions=[call("route/always/0/do/0", "fx")])]
            ),
            "a": state(on={"Go": [trans("a/on/Go/0", "b")]}),
            "b": state(),
        },
        effects={"fx": python_effect()},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go")
    assert r.instance.status == "running" and r.instance.state == "route"
    assert [i.kind for i in r.instance.deferred] == ["event"]
    r = d.ok(runs(r.commands)[0].call_id)
    assert r.instance.state == "b" and r.instance.deferred == ()
    assert r.trace[-3:] == ("re-offer event Go", "transition a/on/Go/0", "enter b")


def test_data_written_before_a_call_is_checked_when_the_transition_finishes() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[
                                set_("a/on/Go/0/do/0", n=path("event.n")),
                                call("a/on/Go/0/do/1", "fx"),
                            ],
                        )
                    ]
                }
            ),
            "b": state(),
        },
        effects={"fx": python_effect()},
        data={"n": ({"type": "integer"}, 0)},
    )
    d = Driver(Program.from_ir(ir))
    r = d.ok(runs(d.event("Go", {"n": "seven"}).commands)[0].call_id)
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert "data.n: 'seven' is not of type 'integer'" in r.instance.incident.reason
