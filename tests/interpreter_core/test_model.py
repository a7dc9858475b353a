"""Every model type survives a JSON round trip exactly; `accepts` follows the status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flowyard.interpreter.model import (
    ArmTimer,
    AwaitCallback,
    CallProgress,
    Cancel,
    CancelTimer,
    Command,
    Completed,
    EffectResult,
    Emit,
    EventInput,
    Incident,
    IncidentRaised,
    Input,
    Instance,
    OutstandingCall,
    Pending,
    RetryIncident,
    RunEffect,
    SignalInput,
    StepResult,
    TimerInput,
    command_from_json,
    input_from_json,
)

INPUTS: list[Input] = [
    EventInput("OrderPlaced", {"a": [1, 2.5, None]}, {"topic": "orders", "offset": 3}, 10),
    SignalInput("review", {"approved": True}, 11),
    TimerInput("paid/after/0", 12),
    EffectResult("f/k/0/a", True, {"v": 1}, None, "call", 13),
    EffectResult("f/k/0/a", False, None, "HTTP 500", "callback", 14),
    RetryIncident(15),
    Cancel(16, "operator"),
]

COMMANDS: list[Command] = [
    RunEffect("f/k/0/a", "fx", {"x": 1}, "fy-abc", "a"),
    ArmTimer("t", 99),
    CancelTimer("t"),
    Emit("topic", "k", {"v": 1}, {"h": "1"}, "fy-d"),
    Emit("topic", None, None, {}, "fy-e"),
    AwaitCallback("f/k/0/a", 1000),
    Completed(),
    IncidentRaised("boom"),
]


def through_text(obj: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(obj))
    return loaded


@pytest.mark.parametrize("inp", INPUTS, ids=lambda i: i.kind)
def test_inputs_round_trip(inp: Input) -> None:
    assert input_from_json(through_text(inp.to_json())) == inp
    assert type(inp).from_json(through_text(inp.to_json())) == inp


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.kind)
def test_commands_round_trip(command: Command) -> None:
    assert command_from_json(through_text(command.to_json())) == command


def test_unknown_kinds_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown input kind"):
        input_from_json({"kind": "nope"})
    with pytest.raises(ValueError, match="unknown command kind"):
        command_from_json({})


def full_instance() -> Instance:
    progress = CallProgress(
        action_id="s/on/E/0/do/1",
        effect="deliver",
        seq=4,
        for_each=True,
        args=({"url": "a"}, {"url": "b"}, {"url": "c"}),
        concurrency=2,
        next_item=3,
        outstanding=(
            OutstandingCall(call_id="f/k/4/x/2", item=2, args={"url": "c"}, awaiting_callback=True),
        ),
        results={0: {"ok": 1}, 1: None},
        failed=(OutstandingCall(call_id="f/k/4/x/1", item=1, args={"url": "b"}),),
        retries=1,
    )
    pending = Pending(
        transition="s/on/E/0",
        trigger=INPUTS[0],
        origin="s",
        target="t",
        phase="do",
        action_index=1,
        call=progress,
        then_input=INPUTS[1],
        always_steps=2,
        entered_ms=5,
    )
    return Instance(
        flow="f",
        key="k",
        ir_hash="sha256:00",
        seq=5,
        state="s",
        status="incident",
        data={"n": 1, "x": [1, {"y": None}]},
        timers={"callback:f/k/4/x/2": 100, "s/after/0": 200},
        deferred=(INPUTS[0], INPUTS[1]),
        pending=pending,
        incident=Incident(
            reason="r", at_ms=3, call_id="f/k/4/x/1", pointer="/data/n", retry_input=INPUTS[2]
        ),
    )


def test_instance_round_trips_with_every_field_set() -> None:
    inst = full_instance()
    assert Instance.from_json(through_text(inst.to_json())) == inst
    bare = Instance(flow="f", key="k", ir_hash="h", seq=0, state="s", status="active", data={})
    assert Instance.from_json(through_text(bare.to_json())) == bare


def test_step_result_round_trips() -> None:
    result = StepResult(full_instance(), tuple(COMMANDS), ("transition x", "action y"))
    assert StepResult.from_json(through_text(result.to_json())) == result


def test_instance_rejects_unknown_status() -> None:
    obj = full_instance().to_json()
    obj["status"] = "sleeping"
    with pytest.raises(ValueError, match="status"):
        Instance.from_json(obj)


def test_accepts_follows_status() -> None:
    inst = full_instance()
    awaited = EffectResult("f/k/4/x/2", True, 1, None, "callback", 1)
    assert inst.accepts(RetryIncident(1)) and inst.accepts(Cancel(1, ""))
    assert inst.accepts(awaited)
    assert not inst.accepts(EffectResult("f/k/4/x/1", True, 1, None, "call", 1))
    assert not inst.accepts(INPUTS[0])
    running = Instance.from_json({**inst.to_json(), "status": "running", "incident": None})
    assert running.accepts(awaited)
    assert running.accepts(TimerInput("callback:f/k/4/x/2", 1))
    assert not running.accepts(TimerInput("s/after/0", 1))
    assert not running.accepts(RetryIncident(1))
    assert running.accepts(Cancel(1, ""))
    active = Instance(flow="f", key="k", ir_hash="h", seq=0, state="s", status="active", data={})
    assert all(active.accepts(i) for i in INPUTS)
