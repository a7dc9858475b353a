"""The functional core's data: instance snapshots, inputs, commands and step results.

Everything here is a frozen dataclass with `to_json()` / `from_json()` producing
plain JSON (dicts, lists, strings, numbers, booleans, null) that round-trips
exactly: `X.from_json(x.to_json()) == x`. The store persists these JSON forms;
the core never touches a clock, so every time is a journaled `at_ms`.

Inputs and commands carry a `kind` tag in their JSON form; `input_from_json` and
`command_from_json` dispatch on it.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, ClassVar, Literal, TypeAlias

from .immutable import immutable

JSON: TypeAlias = Any
"""A plain JSON value (kept as Any: mypy cannot express recursive JSON usefully here)."""

Status = Literal["active", "running", "completed", "incident", "cancelled"]
STATUSES: tuple[Status, ...] = ("active", "running", "completed", "incident", "cancelled")

Phase = Literal["do", "catch", "exit", "enter"]
"""Which action list a running transition is in: its `do`, its `catch`, the exit
actions of the state it leaves, or the enter actions of the state it enters."""

CALLBACK_TIMER_PREFIX = "callback:"
"""Timer ids of callback timeouts are `callback:<call_id>`."""


# ---------------------------------------------------------------- inputs


@immutable
class EventInput:
    """A domain event (from Kafka, HTTP or an events file), already matched to its name."""

    name: str
    payload: JSON
    meta: dict[str, JSON]
    at_ms: int
    kind: ClassVar[str] = "event"

    def to_json(self) -> dict[str, JSON]:
        return {
            "kind": self.kind,
            "name": self.name,
            "payload": self.payload,
            "meta": self.meta,
            "at_ms": self.at_ms,
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> EventInput:
        return cls(obj["name"], obj["payload"], dict(obj.get("meta") or {}), obj["at_ms"])


@immutable
class SignalInput:
    """A named external signal (HTTP, CLI or Kafka)."""

    name: str
    payload: JSON
    at_ms: int
    kind: ClassVar[str] = "signal"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "name": self.name, "payload": self.payload, "at_ms": self.at_ms}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> SignalInput:
        return cls(obj["name"], obj["payload"], obj["at_ms"])


@immutable
class TimerInput:
    """A durable timer fell due (a state timer, or `callback:<call_id>`)."""

    timer_id: str
    at_ms: int
    kind: ClassVar[str] = "timer"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "timer_id": self.timer_id, "at_ms": self.at_ms}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> TimerInput:
        return cls(obj["timer_id"], obj["at_ms"])


@immutable
class EffectResult:
    """The final outcome of one effect call (the shell has exhausted its retries).

    `phase` is "call" for the outcome of running the effect and "callback" for a
    callback that resolved it. For an effect with a callback, an ok "call" result
    only means the request was accepted.
    """

    call_id: str
    ok: bool
    value: JSON
    error: str | None
    phase: Literal["call", "callback"]
    at_ms: int
    kind: ClassVar[str] = "effect_result"

    def to_json(self) -> dict[str, JSON]:
        return {
            "kind": self.kind,
            "call_id": self.call_id,
            "ok": self.ok,
            "value": self.value,
            "error": self.error,
            "phase": self.phase,
            "at_ms": self.at_ms,
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> EffectResult:
        return cls(
            obj["call_id"],
            obj["ok"],
            obj.get("value"),
            obj.get("error"),
            obj.get("phase", "call"),
            obj["at_ms"],
        )


@immutable
class RetryIncident:
    """Operator input: retry what failed (re-issue failed calls, resume, or re-apply)."""

    at_ms: int
    kind: ClassVar[str] = "retry_incident"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "at_ms": self.at_ms}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> RetryIncident:
        return cls(obj["at_ms"])


@immutable
class Cancel:
    """Operator input: cancel the instance."""

    at_ms: int
    reason: str
    kind: ClassVar[str] = "cancel"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "at_ms": self.at_ms, "reason": self.reason}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> Cancel:
        return cls(obj["at_ms"], obj.get("reason", ""))


Input: TypeAlias = EventInput | SignalInput | TimerInput | EffectResult | RetryIncident | Cancel

NAMED_INPUTS = (EventInput, SignalInput)
"""The inputs with a `name`, for `isinstance` (a tuple: an inline `A | B`
builds a union on every call)."""

_INPUT_TYPES: dict[str, type[Input]] = {
    t.kind: t for t in (EventInput, SignalInput, TimerInput, EffectResult, RetryIncident, Cancel)
}


def input_from_json(obj: dict[str, JSON]) -> Input:
    """Rebuild any input from its JSON form (dispatching on `kind`)."""
    try:
        cls = _INPUT_TYPES[obj["kind"]]
    except KeyError:
        raise ValueError(f"unknown input kind {obj.get('kind')!r}") from None
    return cls.from_json(obj)


# ---------------------------------------------------------------- commands


@immutable
class RunEffect:
    """Run `effect` with `args` (retrying per its policy); report an EffectResult."""

    call_id: str
    effect: str
    args: JSON
    idempotency_key: str
    action_id: str
    kind: ClassVar[str] = "run_effect"

    def to_json(self) -> dict[str, JSON]:
        return {
            "kind": self.kind,
            "call_id": self.call_id,
            "effect": self.effect,
            "args": self.args,
            "idempotency_key": self.idempotency_key,
            "action_id": self.action_id,
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> RunEffect:
        return cls(
            obj["call_id"], obj["effect"], obj["args"], obj["idempotency_key"], obj["action_id"]
        )


@immutable
class ArmTimer:
    """Arm (or re-arm) a durable timer."""

    timer_id: str
    due_ms: int
    kind: ClassVar[str] = "arm_timer"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "timer_id": self.timer_id, "due_ms": self.due_ms}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> ArmTimer:
        return cls(obj["timer_id"], obj["due_ms"])


@immutable
class CancelTimer:
    """Drop a durable timer."""

    timer_id: str
    kind: ClassVar[str] = "cancel_timer"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "timer_id": self.timer_id}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> CancelTimer:
        return cls(obj["timer_id"])


@immutable
class Emit:
    """Append a record to the outbox (same transaction as the snapshot)."""

    topic: str
    key: str | None
    value: JSON
    headers: dict[str, str]
    dedup_key: str
    kind: ClassVar[str] = "emit"

    def to_json(self) -> dict[str, JSON]:
        return {
            "kind": self.kind,
            "topic": self.topic,
            "key": self.key,
            "value": self.value,
            "headers": self.headers,
            "dedup_key": self.dedup_key,
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> Emit:
        return cls(
            obj["topic"], obj.get("key"), obj.get("value"), dict(obj["headers"]), obj["dedup_key"]
        )


@immutable
class AwaitCallback:
    """Register the callback token for `call_id`; its timeout timer is armed separately."""

    call_id: str
    timeout_ms: int
    kind: ClassVar[str] = "await_callback"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "call_id": self.call_id, "timeout_ms": self.timeout_ms}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> AwaitCallback:
        return cls(obj["call_id"], obj["timeout_ms"])


@immutable
class Completed:
    """The instance reached a final state."""

    kind: ClassVar[str] = "completed"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> Completed:
        return cls()


@immutable
class IncidentRaised:
    """The instance became an incident; an operator can retry or cancel it."""

    reason: str
    kind: ClassVar[str] = "incident"

    def to_json(self) -> dict[str, JSON]:
        return {"kind": self.kind, "reason": self.reason}

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> IncidentRaised:
        return cls(obj["reason"])


Command: TypeAlias = (
    RunEffect | ArmTimer | CancelTimer | Emit | AwaitCallback | Completed | IncidentRaised
)

_COMMAND_TYPES: dict[str, type[Command]] = {
    t.kind: t
    for t in (RunEffect, ArmTimer, CancelTimer, Emit, AwaitCallback, Completed, IncidentRaised)
}


def command_from_json(obj: dict[str, JSON]) -> Command:
    """Rebuild any command from its JSON form (dispatching on `kind`)."""
    try:
        cls = _COMMAND_TYPES[obj["kind"]]
    except KeyError:
        raise ValueError(f"unknown command kind {obj.get('kind')!r}") from None
    return cls.from_json(obj)


# ---------------------------------------------------------------- instance


@immutable(kw_only=True)
class OutstandingCall:
    """One effect call issued and not yet resolved.

    `item` is the for_each item index (None for a plain call); `awaiting_callback`
    is true once the effect accepted the request and a callback is awaited.
    """

    call_id: str
    item: int | None
    args: JSON
    awaiting_callback: bool = False

    def to_json(self) -> dict[str, JSON]:
        return {
            "call_id": self.call_id,
            "item": self.item,
            "args": self.args,
            "awaiting_callback": self.awaiting_callback,
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> OutstandingCall:
        return cls(
            call_id=obj["call_id"],
            item=obj.get("item"),
            args=obj.get("args"),
            awaiting_callback=bool(obj.get("awaiting_callback", False)),
        )


@immutable(kw_only=True)
class CallProgress:
    """The `call` action in flight: its items, what is outstanding, what came back.

    `args` holds the evaluated `with` map per item (one entry for a plain call);
    items `[0, next_item)` have been issued; `results` maps item index to value;
    `failed` holds calls that failed for good while the instance is an incident
    (RetryIncident re-issues them with the `/r{retries}` suffix).
    """

    action_id: str
    effect: str
    seq: int
    for_each: bool
    args: tuple[JSON, ...]
    concurrency: int
    next_item: int = 0
    outstanding: tuple[OutstandingCall, ...] = ()
    results: dict[int, JSON] = field(default_factory=dict)
    failed: tuple[OutstandingCall, ...] = ()
    retries: int = 0

    def outstanding_ids(self) -> frozenset[str]:
        """Ids of the calls whose results are still awaited."""
        return frozenset(c.call_id for c in self.outstanding)

    def to_json(self) -> dict[str, JSON]:
        return {
            "action_id": self.action_id,
            "effect": self.effect,
            "seq": self.seq,
            "for_each": self.for_each,
            "args": list(self.args),
            "concurrency": self.concurrency,
            "next_item": self.next_item,
            "outstanding": [c.to_json() for c in self.outstanding],
            "results": {str(k): v for k, v in sorted(self.results.items())},
            "failed": [c.to_json() for c in self.failed],
            "retries": self.retries,
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> CallProgress:
        return cls(
            action_id=obj["action_id"],
            effect=obj["effect"],
            seq=obj["seq"],
            for_each=obj["for_each"],
            args=tuple(obj["args"]),
            concurrency=obj["concurrency"],
            next_item=obj.get("next_item", 0),
            outstanding=tuple(OutstandingCall.from_json(c) for c in obj.get("outstanding", [])),
            results={int(k): v for k, v in obj.get("results", {}).items()},
            failed=tuple(OutstandingCall.from_json(c) for c in obj.get("failed", [])),
            retries=obj.get("retries", 0),
        )


@immutable(kw_only=True)
class Pending:
    """The program counter of a transition that is mid-way.

    `transition` is the transition id (None while entering the initial state);
    `trigger` the input that started it (its `event` and `meta` stay in scope);
    `origin` the state it started from; `target` where it goes once the current
    phase's actions are done (None: stay); `phase` and `action_index` say which
    action runs next; `call` is the call action in flight. `then_input` is the
    instance's first input, applied once the initial state's entry finishes.
    `always_steps` counts `always` transitions taken in this chain; `entered_ms`
    is when the state being entered was entered (its `after` timers count from it).
    """

    transition: str | None
    trigger: Input | None
    origin: str
    target: str | None
    phase: Phase
    action_index: int
    call: CallProgress | None = None
    then_input: Input | None = None
    always_steps: int = 0
    entered_ms: int | None = None

    def call_ids(self) -> frozenset[str]:
        """Ids of the calls whose results are awaited."""
        return frozenset() if self.call is None else self.call.outstanding_ids()

    def to_json(self) -> dict[str, JSON]:
        return {
            "transition": self.transition,
            "trigger": None if self.trigger is None else self.trigger.to_json(),
            "origin": self.origin,
            "target": self.target,
            "phase": self.phase,
            "action_index": self.action_index,
            "call": None if self.call is None else self.call.to_json(),
            "then_input": None if self.then_input is None else self.then_input.to_json(),
            "always_steps": self.always_steps,
            "entered_ms": self.entered_ms,
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> Pending:
        trigger = obj.get("trigger")
        call = obj.get("call")
        then = obj.get("then_input")
        return cls(
            transition=obj.get("transition"),
            trigger=None if trigger is None else input_from_json(trigger),
            origin=obj["origin"],
            target=obj.get("target"),
            phase=obj["phase"],
            action_index=obj["action_index"],
            call=None if call is None else CallProgress.from_json(call),
            then_input=None if then is None else input_from_json(then),
            always_steps=obj.get("always_steps", 0),
            entered_ms=obj.get("entered_ms"),
        )


@immutable(kw_only=True)
class Incident:
    """Why the instance stopped: a reason for people, when, and what to point at.

    `call_id` names the failed call; `pointer` the IR JSON pointer of the failing
    expression (resolve it with `ir["source"]["spans"]`); `retry_input` is the
    input to re-apply on RetryIncident when no transition was under way.
    """

    reason: str
    at_ms: int
    call_id: str | None = None
    pointer: str | None = None
    retry_input: Input | None = None

    def to_json(self) -> dict[str, JSON]:
        return {
            "reason": self.reason,
            "at_ms": self.at_ms,
            "call_id": self.call_id,
            "pointer": self.pointer,
            "retry_input": None if self.retry_input is None else self.retry_input.to_json(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> Incident:
        retry = obj.get("retry_input")
        return cls(
            reason=obj["reason"],
            at_ms=obj["at_ms"],
            call_id=obj.get("call_id"),
            pointer=obj.get("pointer"),
            retry_input=None if retry is None else input_from_json(retry),
        )


@immutable
class Instance:
    """A snapshot of one flow instance, `(flow, key)`, after `seq` inputs."""

    flow: str
    key: str
    ir_hash: str
    seq: int
    state: str
    status: Status
    data: dict[str, JSON]
    timers: dict[str, int] = field(default_factory=dict)
    deferred: tuple[Input, ...] = ()
    pending: Pending | None = None
    incident: Incident | None = None

    def accepts(self, inp: Input) -> bool:
        """Whether `inp` may be applied now; otherwise the shell keeps it in the inbox.

        While a transition is running, only results of its outstanding calls,
        their callback timeouts and Cancel are accepted. An incident accepts
        RetryIncident, Cancel and results of calls still outstanding.
        """
        if isinstance(inp, Cancel):
            return True
        if self.status == "running":
            return self._awaits(inp)
        if self.status == "incident":
            return isinstance(inp, RetryIncident) or self._awaits(inp)
        return True

    def _awaits(self, inp: Input) -> bool:
        if self.pending is None:
            return False
        if isinstance(inp, EffectResult):
            return inp.call_id in self.pending.call_ids()
        if isinstance(inp, TimerInput) and inp.timer_id.startswith(CALLBACK_TIMER_PREFIX):
            return inp.timer_id in self.timers
        return False

    def to_json(self) -> dict[str, JSON]:
        return {
            "flow": self.flow,
            "key": self.key,
            "ir_hash": self.ir_hash,
            "seq": self.seq,
            "state": self.state,
            "status": self.status,
            "data": self.data,
            "timers": dict(self.timers),
            "deferred": [d.to_json() for d in self.deferred] if self.deferred else [],
            "pending": None if self.pending is None else self.pending.to_json(),
            "incident": None if self.incident is None else self.incident.to_json(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> Instance:
        pending = obj.get("pending")
        incident = obj.get("incident")
        status = obj["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown instance status {status!r}")
        return cls(
            flow=obj["flow"],
            key=obj["key"],
            ir_hash=obj["ir_hash"],
            seq=obj["seq"],
            state=obj["state"],
            status=status,
            data=dict(obj["data"]),
            timers=dict(obj.get("timers", {})),
            deferred=tuple(input_from_json(d) for d in obj.get("deferred", [])),
            pending=None if pending is None else Pending.from_json(pending),
            incident=None if incident is None else Incident.from_json(incident),
        )


# ---------------------------------------------------------------- step result


@immutable
class StepResult:
    """What one `step` produced: the new snapshot, the commands for the shell, and a trace.

    The trace names what ran, in order; the journal stores it (see
    `replay.trace_to_json`) so that a replay meeting a different step fails loudly.
    Entries: `create <state>`, `transition <id>`, `action <id>`, `enter <state>`,
    `result <call_id>`, `accepted <call_id>` (a callback is awaited), `failed
    <call_id>`, `callback timeout <call_id>`, `catch <transition id>`, `deferred
    <input>`, `re-offer <input>`, `ignored <input>[ (why)]`, `incident`, `retry`,
    `completed`, `cancelled`.
    """

    instance: Instance
    commands: tuple[Command, ...]
    trace: tuple[str, ...]

    def to_json(self) -> dict[str, JSON]:
        return {
            "instance": self.instance.to_json(),
            "commands": [c.to_json() for c in self.commands],
            "trace": list(self.trace),
        }

    @classmethod
    def from_json(cls, obj: dict[str, JSON]) -> StepResult:
        return cls(
            Instance.from_json(obj["instance"]),
            tuple(command_from_json(c) for c in obj["commands"]),
            tuple(obj["trace"]),
        )
