"""States, triggers, guards, timers, always and defer, each in isolation through `step`."""

from __future__ import annotations

import pytest
from core_helpers import Driver, binop, fn, make_ir, path, set_, state, trans
from flowyard.interpreter.core import step
from flowyard.interpreter.model import (
    ArmTimer,
    CancelTimer,
    Completed,
    EventInput,
    IncidentRaised,
    TimerInput,
)
from flowyard.interpreter.program import Program

INT = {"type": "integer"}


def test_creation_takes_defaults_runs_enter_and_arms_timers() -> None:
    ir = make_ir(
        {
            "a": state(
                enter=[set_("a/enter/0", n=binop("+", path("data.n"), 1))],
                timers=[
                    {"id": "a/after/0", "kind": "after", "delay_ms": 5000, "candidates": []},
                ],
            )
        },
        data={"n": (INT, 10), "tags": ({"type": "array"}, [])},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go")
    assert r.instance.flow == "t" and r.instance.key == "k1"
    assert r.instance.seq == 1
    assert r.instance.status == "active"
    assert r.instance.data == {"n": 11, "tags": []}
    assert r.instance.timers == {"a/after/0": d.now + 5000}
    assert r.commands == (ArmTimer("a/after/0", d.now + 5000),)
    assert r.trace == ("create a", "action a/enter/0", "ignored event Go")


def test_defaults_are_not_shared_between_instances() -> None:
    program = Program.from_ir(
        make_ir(
            {
                "a": state(
                    on={
                        "Go": [
                            trans(
                                "a/on/Go/0",
                                actions=[
                                    set_(
                                        "a/on/Go/0/do/0",
                                        tags=binop(
                                            "+",
                                            path("data.tags"),
                                            {"op": "list", "items": [path("key")]},
                                        ),
                                    )
                                ],
                            )
                        ]
                    }
                )
            },
            data={"tags": ({"type": "array"}, [])},
        )
    )
    first = step(program, None, EventInput("Go", {}, {}, 1), key="x").instance
    second = step(program, None, EventInput("Go", {}, {}, 1), key="y").instance
    assert first.data == {"tags": ["x"]} and second.data == {"tags": ["y"]}
    assert program.data_defaults == {"tags": []}


def test_first_matching_guard_wins_and_no_match_is_ignored() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans("a/on/Go/0", "big", when=binop(">", path("event.n"), 10)),
                        trans("a/on/Go/1", "mid", when=binop(">", path("event.n"), 5)),
                        trans("a/on/Go/2", "any", when=binop(">", path("event.n"), 5)),
                    ]
                }
            ),
            "big": state(),
            "mid": state(),
            "any": state(),
        }
    )
    program = Program.from_ir(ir)
    d = Driver(program)
    r = d.event("Go", {"n": 1})
    assert r.instance.state == "a"
    assert r.trace[-1] == "ignored event Go (no guard held)"
    r = d.event("Go", {"n": 7})
    assert r.instance.state == "mid"
    assert r.trace == ("transition a/on/Go/1", "enter mid")


def test_targetless_transition_stays_without_exit_enter_or_timer_changes() -> None:
    ir = make_ir(
        {
            "a": state(
                enter=[set_("a/enter/0", entered=binop("+", path("data.entered"), 1))],
                exit=[set_("a/exit/0", exited=binop("+", path("data.exited"), 1))],
                on={"Go": [trans("a/on/Go/0", actions=[set_("a/on/Go/0/do/0", seen=True)])]},
                timers=[{"id": "a/after/0", "kind": "after", "delay_ms": 10, "candidates": []}],
            )
        },
        data={"entered": (INT, 0), "exited": (INT, 0), "seen": ({"type": "boolean"}, False)},
    )
    d = Driver(Program.from_ir(ir))
    d.event("Other")
    timers = d.inst.timers
    r = d.event("Go")
    assert r.instance.data == {"entered": 1, "exited": 0, "seen": True}
    assert r.instance.timers == timers
    assert r.commands == ()


def test_goto_runs_exit_then_enter_and_moves_timers() -> None:
    ir = make_ir(
        {
            "a": state(
                exit=[set_("a/exit/0", log=binop("+", path("data.log"), "x"))],
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[set_("a/on/Go/0/do/0", log=binop("+", path("data.log"), "d"))],
                        )
                    ]
                },
                timers=[{"id": "a/after/0", "kind": "after", "delay_ms": 10, "candidates": []}],
            ),
            "b": state(
                enter=[set_("b/enter/0", log=binop("+", path("data.log"), "e"))],
                timers=[{"id": "b/after/0", "kind": "after", "delay_ms": 99, "candidates": []}],
            ),
        },
        events=["Go", "Start"],
        data={"log": ({"type": "string"}, "")},
    )
    d = Driver(Program.from_ir(ir))
    d.event("Start")
    r = d.event("Go")
    assert r.instance.data["log"] == "dxe"
    assert r.instance.timers == {"b/after/0": d.now + 99}
    assert r.commands == (CancelTimer("a/after/0"), ArmTimer("b/after/0", d.now + 99))
    assert r.trace == (
        "transition a/on/Go/0",
        "action a/on/Go/0/do/0",
        "action a/exit/0",
        "enter b",
        "action b/enter/0",
    )


def test_goto_self_rearms_timers() -> None:
    ir = make_ir(
        {
            "a": state(
                on={"Go": [trans("a/on/Go/0", "a")]},
                timers=[{"id": "a/after/0", "kind": "after", "delay_ms": 10, "candidates": []}],
            )
        }
    )
    d = Driver(Program.from_ir(ir))
    d.event("Go")
    r = d.event("Go")
    assert r.commands == (CancelTimer("a/after/0"), ArmTimer("a/after/0", d.now + 10))


def test_timer_fires_its_candidates_and_stale_timers_are_ignored() -> None:
    ir = make_ir(
        {
            "a": state(
                on={"Go": [trans("a/on/Go/0", "c")]},
                timers=[
                    {
                        "id": "a/after/0",
                        "kind": "after",
                        "delay_ms": 100,
                        "candidates": [trans("a/after/0/0", "b")],
                    }
                ],
            ),
            "b": state(final=True),
            "c": state(),
        },
        events=["Go", "Start"],
    )
    program = Program.from_ir(ir)
    d = Driver(program)
    d.event("Start")
    r = d.fire("a/after/0")
    assert r.instance.state == "b" and r.instance.status == "completed"
    assert r.commands == (Completed(),)
    assert r.instance.timers == {}

    d2 = Driver(program)
    d2.event("Start")
    due = d2.inst.timers["a/after/0"]
    d2.event("Go")
    r = d2.send(TimerInput("a/after/0", due))
    assert r.trace == ("ignored timer a/after/0",)
    assert r.instance.state == "c"


def test_at_timer_is_evaluated_at_entry() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[set_("a/on/Go/0/do/0", due=path("event.due"))],
                        )
                    ]
                }
            ),
            "b": state(
                timers=[
                    {
                        "id": "b/at/0",
                        "kind": "at",
                        "time": fn("timestamp", path("data.due")),
                        "candidates": [trans("b/at/0/0", "a")],
                    }
                ]
            ),
        },
        data={"due": ({"type": "string"}, "")},
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go", {"due": "2030-01-01T00:00:00Z"})
    assert r.instance.timers == {"b/at/0": 1_893_456_000_000}


def test_at_timer_with_a_bad_time_is_an_incident_pointing_at_it() -> None:
    ir = make_ir(
        {
            "a": state(on={"Go": [trans("a/on/Go/0", "b")]}),
            "b": state(
                timers=[
                    {
                        "id": "b/at/0",
                        "kind": "at",
                        "time": fn("timestamp", "not a time"),
                        "candidates": [],
                    }
                ]
            ),
        }
    )
    d = Driver(Program.from_ir(ir))
    r = d.event("Go")
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert r.instance.incident.pointer == "/states/b/timers/0/time"
    assert "timer b/at/0" in r.instance.incident.reason


def test_final_state_completes_and_later_inputs_are_ignored() -> None:
    ir = make_ir(
        {
            "a": state(
                on={"Go": [trans("a/on/Go/0", "done")]},
                timers=[{"id": "a/after/0", "kind": "after", "delay_ms": 10, "candidates": []}],
            ),
            "done": state(final=True),
        },
        events=["Go", "Start"],
    )
    d = Driver(Program.from_ir(ir))
    d.event("Start")
    r = d.event("Go")
    assert r.instance.status == "completed"
    assert r.commands == (CancelTimer("a/after/0"), Completed())
    r = d.event("Go")
    assert r.trace == ("ignored event Go (completed)",)
    assert r.instance.seq == 3


def test_always_routes_after_entry() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "route",
                            actions=[set_("a/on/Go/0/do/0", n=path("event.n"))],
                        )
                    ]
                }
            ),
            "route": state(
                always=[
                    trans("route/always/0", "big", when=binop(">", path("data.n"), 10)),
                    trans("route/always/1", "small"),
                ]
            ),
            "big": state(),
            "small": state(),
        },
        data={"n": (INT, 0)},
    )
    program = Program.from_ir(ir)
    r = Driver(program).event("Go", {"n": 1})
    assert r.instance.state == "small"
    assert r.trace[-2:] == ("transition route/always/1", "enter small")
    assert Driver(program).event("Go", {"n": 11}).instance.state == "big"


def test_event_is_not_in_scope_of_always_guards() -> None:
    ir = make_ir(
        {
            "a": state(on={"Go": [trans("a/on/Go/0", "route")]}),
            "route": state(always=[trans("route/always/0", "a", when=path("event.n"))]),
        }
    )
    r = Driver(Program.from_ir(ir)).event("Go", {"n": 1})
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert "'event' is not available here" in r.instance.incident.reason
    assert r.instance.incident.pointer == "/states/route/always/0/when/target"


def test_always_on_data_and_the_loop_limit() -> None:
    ir = make_ir(
        {
            "a": state(
                always=[
                    trans(
                        "a/always/0",
                        "a",
                        when=binop("<", path("data.n"), 1000),
                        actions=[set_("a/always/0/do/0", n=binop("+", path("data.n"), 1))],
                    )
                ]
            )
        },
        data={"n": (INT, 0)},
        max_always=5,
    )
    r = Driver(Program.from_ir(ir)).event("Go")
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert "more than 5 times" in r.instance.incident.reason
    assert r.instance.data["n"] == 5
    assert IncidentRaised(r.instance.incident.reason) in r.commands


def test_always_stops_when_no_guard_holds() -> None:
    ir = make_ir(
        {
            "a": state(
                always=[
                    trans(
                        "a/always/0",
                        "a",
                        when=binop("<", path("data.n"), 3),
                        actions=[set_("a/always/0/do/0", n=binop("+", path("data.n"), 1))],
                    )
                ]
            )
        },
        data={"n": (INT, 0)},
    )
    r = Driver(Program.from_ir(ir)).event("Go")
    assert r.instance.status == "active"
    assert r.instance.data["n"] == 3


def test_defer_keeps_inputs_and_reoffers_them_in_order_after_a_state_change() -> None:
    ir = make_ir(
        {
            "a": state(on={"Pay": [trans("a/on/Pay/0", "b")]}, defer=["Addr", "Note"]),
            "b": state(
                on={
                    "Addr": [
                        trans(
                            "b/on/Addr/0",
                            actions=[
                                set_(
                                    "b/on/Addr/0/do/0",
                                    log=binop("+", path("data.log"), path("event.v")),
                                )
                            ],
                        )
                    ],
                    "Note": [
                        trans(
                            "b/on/Note/0",
                            actions=[
                                set_("b/on/Note/0/do/0", log=binop("+", path("data.log"), "n"))
                            ],
                        )
                    ],
                }
            ),
        },
        events=["Pay", "Addr", "Note", "Start"],
        data={"log": ({"type": "string"}, "")},
    )
    d = Driver(Program.from_ir(ir))
    d.event("Start")
    assert d.event("Addr", {"v": "1"}).trace == ("deferred event Addr",)
    d.event("Note")
    d.event("Addr", {"v": "2"})
    assert [i.name for i in d.inst.deferred] == ["Addr", "Note", "Addr"]  # type: ignore[union-attr]
    r = d.event("Pay")
    assert r.instance.data["log"] == "1n2"
    assert r.instance.deferred == ()
    assert r.trace[:3] == ("transition a/on/Pay/0", "enter b", "re-offer event Addr")


def test_deferred_inputs_not_handled_by_the_new_state_are_dropped_or_kept() -> None:
    ir = make_ir(
        {
            "a": state(on={"Pay": [trans("a/on/Pay/0", "b")]}, defer=["Addr", "Note"]),
            "b": state(defer=["Note"], on={"Back": [trans("b/on/Back/0", "a")]}),
        },
        events=["Pay", "Addr", "Note", "Back", "Start"],
    )
    d = Driver(Program.from_ir(ir))
    d.event("Start")
    d.event("Addr")
    d.event("Note")
    r = d.event("Pay")
    assert [i.name for i in r.instance.deferred] == ["Note"]  # type: ignore[union-attr]
    assert "ignored event Addr" in r.trace


def test_unknown_inputs_are_ignored() -> None:
    d = Driver(Program.from_ir(make_ir({"a": state()})))
    d.event("Go")
    assert d.event("Nope").trace == ("ignored event Nope",)
    assert d.ok("no/such/call").trace == ("ignored result no/such/call",)
    assert d.retry().trace == ("ignored retry_incident",)
    assert d.send(TimerInput("x", d.tick())).trace == ("ignored timer x",)


def test_signals_trigger_transitions_with_their_payload_as_event() -> None:
    ir = make_ir(
        {
            "a": state(
                on={
                    "review": [
                        trans("a/on/review/0", "ok", when=path("event.approved")),
                        trans("a/on/review/1", "no"),
                    ]
                }
            ),
            "ok": state(),
            "no": state(),
        },
        signals=["review"],
    )
    d = Driver(Program.from_ir(ir))
    assert d.signal("review", {"approved": True}).instance.state == "ok"


def test_step_refuses_an_instance_of_another_ir() -> None:
    program = Program.from_ir(make_ir({"a": state()}))
    other = Program.from_ir(make_ir({"a": state(), "b": state()}))
    inst = step(program, None, EventInput("Go", {}, {}, 1), key="k").instance
    with pytest.raises(ValueError, match="pinned"):
        step(other, inst, EventInput("Go", {}, {}, 2))
    with pytest.raises(ValueError, match="key"):
        step(program, None, EventInput("Go", {}, {}, 2))


def test_a_timer_whose_guard_failed_fires_again_on_retry() -> None:
    ir = make_ir(
        {
            "a": state(
                timers=[
                    {
                        "id": "a/after/0",
                        "kind": "after",
                        "delay_ms": 10,
                        "candidates": [
                            trans("a/after/0/0", "b", when=binop("==", path("env.GO"), "1"))
                        ],
                    }
                ]
            ),
            "b": state(),
        }
    )
    d = Driver(Program.from_ir(ir))
    d.event("Go")
    r = d.fire("a/after/0")
    assert r.instance.status == "incident"
    assert r.instance.incident is not None
    assert "no field 'GO'" in r.instance.incident.reason
    assert r.instance.timers == {}
    d.env["GO"] = "1"
    r = d.retry()
    assert r.trace == ("retry", "transition a/after/0/0", "enter b")
    assert r.instance.status == "active" and r.instance.state == "b"
