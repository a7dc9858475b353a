"""Small builders for hand-written IR and a driver that feeds inputs through `step`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowyard.interpreter.core import step
from flowyard.interpreter.model import (
    Cancel,
    Command,
    EffectResult,
    EventInput,
    Input,
    Instance,
    RetryIncident,
    RunEffect,
    SignalInput,
    StepResult,
    TimerInput,
)
from flowyard.interpreter.program import Program
from flowyard.interpreter.replay import trace_to_json

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples"

# ---------------------------------------------------------------- expressions


def lit(value: Any) -> dict[str, Any]:
    return {"op": "lit", "value": value}


def path(dotted: str) -> dict[str, Any]:
    """`event.a.b` -> nested field expressions."""
    root, *rest = dotted.split(".")
    node: dict[str, Any] = {"op": "name", "name": root}
    for part in rest:
        node = {"op": "field", "target": node, "name": part}
    return node


def binop(operator: str, left: Any, right: Any) -> dict[str, Any]:
    return {"op": "binary", "operator": operator, "left": _e(left), "right": _e(right)}


def fn(function: str, *args: Any) -> dict[str, Any]:
    return {"op": "call", "function": function, "args": [_e(a) for a in args]}


def mapping(**entries: Any) -> dict[str, Any]:
    return {"op": "map", "entries": [{"key": k, "value": _e(v)} for k, v in entries.items()]}


def _e(value: Any) -> dict[str, Any]:
    """A dict is an expression already; anything else is a literal."""
    return value if isinstance(value, dict) else lit(value)


# ---------------------------------------------------------------- IR


def set_(action_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": action_id,
        "op": "set",
        "assign": [{"field": k, "value": _e(v)} for k, v in fields.items()],
    }


def call(
    action_id: str,
    effect: str,
    args: Any = None,
    *,
    result: str | None = None,
    for_each: Any = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    return {
        "id": action_id,
        "op": "call",
        "effect": effect,
        "args": None if args is None else _e(args),
        "result": result,
        "for_each": None if for_each is None else _e(for_each),
        "concurrency": concurrency if for_each is not None else None,
    }


def trans(
    tid: str,
    target: str | None = None,
    *,
    when: Any = None,
    actions: list[dict[str, Any]] | None = None,
    catch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": tid,
        "when": None if when is None else _e(when),
        "actions": actions or [],
        "target": target,
        "catch": catch,
    }


def state(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "final": False,
        "enter": [],
        "exit": [],
        "on": {},
        "timers": [],
        "always": [],
        "defer": [],
    }
    base.update(kw)
    return base


def python_effect(callback_ms: int | None = None) -> dict[str, Any]:
    return {
        "kind": "python",
        "python": {"module": "m", "function": "f"},
        "timeout_ms": 30000,
        "retry": {"attempts": 1},
        "callback": None if callback_ms is None else {"timeout_ms": callback_ms},
    }


def emit_effect(topic: str = "out", key: Any = None, value: Any = None) -> dict[str, Any]:
    return {
        "kind": "emit",
        "emit": {
            "topic": topic,
            "key": None if key is None else _e(key),
            "value": None if value is None else _e(value),
            "headers": {"x-flow": lit("t")},
        },
        "timeout_ms": 30000,
        "retry": {"attempts": 1},
        "callback": None,
    }


def make_ir(
    states: dict[str, Any],
    *,
    initial: str | None = None,
    events: list[str] | None = None,
    effects: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    signals: list[str] | None = None,
    max_always: int = 100,
    flow: str = "t",
) -> dict[str, Any]:
    """A complete IR dict with a real hash; `data` maps field -> (schema, default)."""
    definition = {
        "description": None,
        "key": None,
        "events": {
            name: {
                "topic": "in",
                "match": [{"path": ["type"], "values": [name]}],
                "match_headers": [],
                "key": path("event.id"),
                "schema": None,
                "delay_ms": 0,
            }
            for name in events or ["Go"]
        },
        "signals": {name: {"schema": None, "topic": None, "key": None} for name in signals or []},
        "effects": effects or {},
        "data": {k: {"schema": s, "default": d} for k, (s, d) in (data or {}).items()},
        "initial": initial or next(iter(states)),
        "states": states,
        "limits": {"max_always_steps": max_always},
    }
    hashed = {"ir_version": 1, "flow": flow, "version": 1, "definition": definition}
    canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        **hashed,
        "hash": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
        "source": {"file": "t.flow.yaml", "spans": {}},
    }


# ---------------------------------------------------------------- driving


@dataclass
class JournalLine:
    """What a store journals per step (shape of the store's JournalEntry)."""

    seq: int
    input: dict[str, Any]
    trace: dict[str, Any]


@dataclass
class Driver:
    """Feeds inputs through `step` the way the shell would, keeping a journal."""

    program: Program
    key: str = "k1"
    env: dict[str, str] = field(default_factory=dict)
    now: int = 1_000_000
    instance: Instance | None = None
    journal: list[JournalLine] = field(default_factory=list)
    last: StepResult | None = None
    before: Instance | None = None

    def send(self, inp: Input) -> StepResult:
        self.before = self.instance
        if self.instance is not None:
            assert self.instance.accepts(inp), f"{inp} not accepted in {self.instance.status}"
        result = step(self.program, self.instance, inp, key=self.key, env=self.env)
        seq = 0 if self.instance is None else self.instance.seq
        self.journal.append(JournalLine(seq, inp.to_json(), trace_to_json(result.trace)))
        self.instance = result.instance
        self.last = result
        return result

    def tick(self, ms: int = 1) -> int:
        self.now += ms
        return self.now

    def event(self, name: str, payload: Any = None, **meta: Any) -> StepResult:
        body = {"type": name, "id": self.key} if payload is None else payload
        return self.send(EventInput(name, body, dict(meta), self.tick()))

    def signal(self, name: str, payload: Any) -> StepResult:
        return self.send(SignalInput(name, payload, self.tick()))

    def fire(self, timer_id: str) -> StepResult:
        assert self.instance is not None
        due = self.instance.timers[timer_id]
        self.now = max(self.now, due)
        return self.send(TimerInput(timer_id, self.now))

    def ok(self, call_id: str, value: Any = None, phase: str = "call") -> StepResult:
        return self.send(EffectResult(call_id, True, value, None, phase, self.tick()))  # type: ignore[arg-type]

    def fail(self, call_id: str, error: str = "boom") -> StepResult:
        return self.send(EffectResult(call_id, False, None, error, "call", self.tick()))

    def retry(self) -> StepResult:
        return self.send(RetryIncident(self.tick()))

    def cancel(self, reason: str = "operator") -> StepResult:
        return self.send(Cancel(self.tick(), reason))

    @property
    def inst(self) -> Instance:
        assert self.instance is not None
        return self.instance


def runs(commands: tuple[Command, ...]) -> list[RunEffect]:
    return [c for c in commands if isinstance(c, RunEffect)]


def of_type(commands: tuple[Command, ...], cls: type[Any]) -> list[Any]:
    return [c for c in commands if isinstance(c, cls)]
