"""Determinism and replay: same inputs give identical JSON; the journal rebuilds the instance."""

from __future__ import annotations

import json

import pytest
from core_helpers import Driver, JournalLine, binop, make_ir, path, set_, state, trans
from flowyard.interpreter.core import step
from flowyard.interpreter.model import EventInput, Instance, input_from_json
from flowyard.interpreter.program import Program
from flowyard.interpreter.replay import ReplayMismatch, replay, trace_from_json, trace_to_json


def program() -> Program:
    return Program.from_ir(
        make_ir(
            {
                "a": state(
                    on={
                        "Go": [
                            trans(
                                "a/on/Go/0",
                                "b",
                                actions=[
                                    set_(
                                        "a/on/Go/0/do/0",
                                        n=binop("+", path("data.n"), path("event.n")),
                                    )
                                ],
                            )
                        ]
                    },
                    timers=[{"id": "a/after/0", "kind": "after", "delay_ms": 10, "candidates": []}],
                ),
                "b": state(on={"Go": [trans("b/on/Go/0", "a")]}),
            },
            data={"n": ({"type": "integer"}, 0)},
        )
    )


def drive() -> Driver:
    d = Driver(program())
    for n in (1, 2, 3, 4):
        d.event("Go", {"n": n})
    return d


def test_same_inputs_give_identical_json() -> None:
    first, second = drive(), drive()
    assert json.dumps(first.inst.to_json()) == json.dumps(second.inst.to_json())
    assert [j.trace for j in first.journal] == [j.trace for j in second.journal]


def test_step_does_not_mutate_its_inputs() -> None:
    d = drive()
    before = json.dumps(d.inst.to_json())
    payload = {"n": 5}
    step(d.program, d.inst, EventInput("Go", payload, {}, d.tick()))
    assert json.dumps(d.inst.to_json()) == before
    assert payload == {"n": 5}


def test_replay_rebuilds_the_instance() -> None:
    d = drive()
    assert replay(d.program, d.journal, key=d.key) == d.instance
    assert replay(d.program, [], key=d.key) is None
    prefix = replay(d.program, d.journal[:2], key=d.key)
    assert isinstance(prefix, Instance) and prefix.seq == 2


def test_replay_meeting_a_different_step_fails_loudly() -> None:
    d = drive()
    changed = list(d.journal)
    doctored = dict(changed[2].input, payload={"n": "x"})
    changed[2] = JournalLine(2, doctored, changed[2].trace)
    with pytest.raises(ReplayMismatch) as info:
        replay(d.program, changed, key=d.key)
    assert info.value.seq == 2
    assert info.value.journaled == trace_from_json(d.journal[2].trace)
    assert "incident" in info.value.replayed
    assert "replay diverged at seq 2" in str(info.value)


def test_replay_with_another_flow_version_fails_loudly() -> None:
    d = drive()
    other = make_ir(
        {
            "a": state(on={"Go": [trans("a/on/Go/0", "a")]}),
            "b": state(),
        },
        data={"n": ({"type": "integer"}, 0)},
    )
    with pytest.raises(ReplayMismatch) as info:
        replay(Program.from_ir(other), d.journal, key=d.key)
    assert info.value.seq == 0


def test_replay_rejects_gaps() -> None:
    d = drive()
    with pytest.raises(ValueError, match="jumps from seq 1 to 2"):
        replay(d.program, [d.journal[0], d.journal[2]], key=d.key)


def test_trace_json_forms() -> None:
    assert trace_to_json(("a", "b")) == {"trace": ["a", "b"], "commands": []}
    assert trace_from_json(trace_to_json(("a", "b"))) == ("a", "b")
    assert trace_from_json(["a"]) == ("a",)
    assert trace_from_json({"steps": ["a"]}) == ("a",)  # journals of earlier versions
    with pytest.raises(ValueError):
        trace_from_json({"trace": [1]})


def test_journaled_inputs_round_trip_before_replay() -> None:
    d = drive()
    for line in d.journal:
        inp = input_from_json(line.input)
        assert inp.to_json() == line.input
