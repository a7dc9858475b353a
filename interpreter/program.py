"""A flow's IR, checked and compiled once into the form `step` runs on every input.

`Program.from_ir(ir)` checks the IR version, compiles every expression into a
closure, precompiles the JSON Schema validators (cached by schema) and indexes
states, transitions, timers and actions by id. Build one per IR hash and keep it:
it is on the hot path of every event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from jsonschema import Draft202012Validator

from ..compiler.schema_messages import violation_message
from .datacheck import DataProblem, data_problems
from .expr import Compiled, ExprCompileError, compile_expr, pointer_join
from .expr_values import equal
from .formats import FORMAT_CHECKER
from .schemaquick import Quick, quick_check
from .schemaregex import LinearValidator

SUPPORTED_IR_VERSIONS = frozenset({1})


class ProgramError(ValueError):
    """The IR is not one this interpreter can run (wrong version or malformed)."""


# ---------------------------------------------------------------- validators


@lru_cache(maxsize=512)
def _validator_for(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    validator: Draft202012Validator = LinearValidator(schema, format_checker=FORMAT_CHECKER)
    return validator


def validator(schema: Any) -> Draft202012Validator:
    """A Draft 2020-12 validator (with format checks), shared between equal schemas."""
    return _validator_for(json.dumps(schema, sort_keys=True, separators=(",", ":")))


@lru_cache(maxsize=512)
def _quick_for(schema_json: str) -> Quick | None:
    return quick_check(json.loads(schema_json))


def quick(schema: Any) -> Quick | None:
    """The quick "surely valid" predicate of `schema` (see `schemaquick`), if it has one."""
    return _quick_for(json.dumps(schema, sort_keys=True, separators=(",", ":")))


def schema_errors(
    checker: Draft202012Validator | None, value: Any, surely_valid: Quick | None = None
) -> list[str]:
    """Readable messages for each violation, prefixed by the JSON path when not the root.

    `surely_valid` (the schema's quick predicate) skips the full check when it holds.
    """
    if checker is None or (surely_valid is not None and surely_valid(value)):
        return []
    messages = []
    for err in sorted(checker.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in err.absolute_path)
        text = violation_message(err)
        messages.append(f"{where}: {text}" if where else text)
    return messages


def _schema_check(
    checker: Draft202012Validator | None, surely_valid: Quick | None
) -> Callable[[Any], list[str]]:
    """`schema_errors` bound to one schema and its quick predicate (positionally:
    a `partial` with a keyword copies a dict on every call)."""
    return lambda value: schema_errors(checker, value, surely_valid)


# ---------------------------------------------------------------- compiled IR


@dataclass(frozen=True, slots=True)
class SetAction:
    """`set`: assign each field the value of its expression."""

    id: str
    assign: tuple[tuple[str, Compiled], ...]
    pointer: str


@dataclass(frozen=True, slots=True)
class CallAction:
    """`call`: run an effect (once, or once per `for_each` item)."""

    id: str
    effect: str
    args: Compiled | None
    result: str | None
    for_each: Compiled | None
    concurrency: int
    pointer: str


Action = SetAction | CallAction


@dataclass(frozen=True, slots=True)
class Catch:
    actions: tuple[Action, ...]
    target: str | None


@dataclass(frozen=True, slots=True)
class Transition:
    """One guarded candidate."""

    id: str
    when: Compiled | None
    actions: tuple[Action, ...]
    target: str | None
    catch: Catch | None
    pointer: str


@dataclass(frozen=True, slots=True)
class Timer:
    """An `after` (delay from entry) or `at` (absolute time expression) timer of a state."""

    id: str
    state: str
    kind: Literal["after", "at"]
    delay_ms: int
    time: Compiled | None
    candidates: tuple[Transition, ...]
    pointer: str


@dataclass(frozen=True, slots=True)
class State:
    name: str
    final: bool
    enter: tuple[Action, ...]
    exit: tuple[Action, ...]
    on: Mapping[str, tuple[Transition, ...]]
    timers: tuple[Timer, ...]
    always: tuple[Transition, ...]
    defer: frozenset[str]


@dataclass(frozen=True, slots=True)
class Effect:
    """An effect declaration with its templates compiled (scope: args, key, env, callback)."""

    name: str
    kind: Literal["python", "http", "emit"]
    spec: Mapping[str, Any]
    timeout_ms: int
    retry: Mapping[str, Any]
    callback_timeout_ms: int | None
    templates: Mapping[str, Compiled]
    header_templates: Mapping[str, Compiled]


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    topic: str
    match: tuple[tuple[tuple[str, ...], tuple[Any, ...]], ...]
    match_headers: tuple[tuple[str, tuple[Any, ...]], ...]
    key: Compiled
    validator: Draft202012Validator | None
    delay_ms: int
    quick: Quick | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    topic: str | None
    key: Compiled | None
    validator: Draft202012Validator | None
    quick: Quick | None = None


# ---------------------------------------------------------------- the program


class Program:
    """A compiled, indexed flow. Build with `Program.from_ir(ir)`; treat as read-only."""

    def __init__(self, ir: Mapping[str, Any]) -> None:
        version = ir.get("ir_version")
        if version not in SUPPORTED_IR_VERSIONS:
            raise ProgramError(
                f"IR version {version!r} is not supported (this flowd runs "
                f"{', '.join(map(str, sorted(SUPPORTED_IR_VERSIONS)))}); recompile the flow"
            )
        self.ir = ir
        self.flow: str = ir["flow"]
        self.version: int = ir["version"]
        self.hash: str = ir["hash"]
        definition = ir["definition"]
        self.initial: str = definition["initial"]
        self.max_always_steps: int = definition.get("limits", {}).get("max_always_steps", 100)
        # A step puts `now` in scope only for a program with an expression that reads it.
        self.reads_now: bool = _reads_name(definition, "now")
        self.transitions: dict[str, Transition] = {}
        self.actions: dict[str, Action] = {}
        self.timers: dict[str, Timer] = {}
        self.data_defaults: dict[str, Any] = {
            name: field.get("default") for name, field in definition["data"].items()
        }
        self.field_validators: dict[str, Draft202012Validator] = {
            name: validator(field["schema"]) for name, field in definition["data"].items()
        }
        self.field_quick: dict[str, Quick] = {
            name: check
            for name, field in definition["data"].items()
            if (check := quick(field["schema"])) is not None
        }
        self.events: dict[str, Event] = {
            name: self._event(name, e) for name, e in definition["events"].items()
        }
        self.signals: dict[str, Signal] = {
            name: self._signal(name, s) for name, s in definition["signals"].items()
        }
        self.effects: dict[str, Effect] = {
            name: self._effect(name, e) for name, e in definition["effects"].items()
        }
        self.states: dict[str, State] = {
            name: self._state(name, s) for name, s in definition["states"].items()
        }
        self._check_references()
        self._by_topic: dict[str, tuple[Event, ...]] = {}
        for event in self.events.values():
            self._by_topic[event.topic] = (*self._by_topic.get(event.topic, ()), event)

    @classmethod
    def from_ir(cls, ir: Mapping[str, Any]) -> Program:
        """Check and compile an IR dict; raises `ProgramError` when it cannot be run."""
        try:
            return cls(ir)
        except ProgramError:
            raise
        except ExprCompileError as exc:
            raise ProgramError(f"cannot compile expression: {exc}") from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProgramError(f"malformed IR: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------ compiling

    def _expr(self, node: Any, pointer: str) -> Compiled:
        return compile_expr(node, pointer)

    def _opt_expr(self, node: Any, pointer: str) -> Compiled | None:
        return None if node is None else self._expr(node, pointer)

    def _event(self, name: str, e: Mapping[str, Any]) -> Event:
        p = pointer_join("/events", name)
        return Event(
            name=name,
            topic=e["topic"],
            match=tuple((tuple(m["path"]), tuple(m["values"])) for m in e.get("match", [])),
            match_headers=tuple(
                (m["name"], tuple(m["values"])) for m in e.get("match_headers", [])
            ),
            key=self._expr(e["key"], p + "/key"),
            validator=None if e.get("schema") is None else validator(e["schema"]),
            delay_ms=e.get("delay_ms", 0),
            quick=None if e.get("schema") is None else quick(e["schema"]),
        )

    def _signal(self, name: str, s: Mapping[str, Any]) -> Signal:
        p = pointer_join("/signals", name)
        return Signal(
            name=name,
            topic=s.get("topic"),
            key=self._opt_expr(s.get("key"), p + "/key"),
            validator=None if s.get("schema") is None else validator(s["schema"]),
            quick=None if s.get("schema") is None else quick(s["schema"]),
        )

    def _effect(self, name: str, e: Mapping[str, Any]) -> Effect:
        p = pointer_join("/effects", name)
        kind = e["kind"]
        if kind not in ("python", "http", "emit"):
            raise ProgramError(f"effect {name!r} has unknown kind {kind!r}")
        spec = e[kind]
        templates: dict[str, Compiled] = {}
        headers: dict[str, Compiled] = {}
        for field in ("url", "body", "key", "value"):
            if kind != "python" and spec.get(field) is not None:
                templates[field] = self._expr(spec[field], f"{p}/{kind}/{field}")
        if kind != "python":
            for header, node in spec.get("headers", {}).items():
                headers[header] = self._expr(node, pointer_join(f"{p}/{kind}/headers", header))
        callback = e.get("callback")
        return Effect(
            name=name,
            kind=kind,
            spec=spec,
            timeout_ms=e.get("timeout_ms", 30_000),
            retry=e.get("retry", {}),
            callback_timeout_ms=None if callback is None else callback["timeout_ms"],
            templates=templates,
            header_templates=headers,
        )

    def _actions(self, nodes: list[Any], pointer: str) -> tuple[Action, ...]:
        out: list[Action] = []
        for n, a in enumerate(nodes):
            p = pointer_join(pointer, n)
            action: Action
            if a["op"] == "set":
                action = SetAction(
                    id=a["id"],
                    assign=tuple(
                        (x["field"], self._expr(x["value"], f"{p}/assign/{i}/value"))
                        for i, x in enumerate(a["assign"])
                    ),
                    pointer=p,
                )
            elif a["op"] == "call":
                action = CallAction(
                    id=a["id"],
                    effect=a["effect"],
                    args=self._opt_expr(a.get("args"), p + "/args"),
                    result=a.get("result"),
                    for_each=self._opt_expr(a.get("for_each"), p + "/for_each"),
                    concurrency=max(1, a.get("concurrency") or 1),
                    pointer=p,
                )
            else:
                raise ProgramError(f"action {a.get('id')!r} has unknown op {a['op']!r}")
            if action.id in self.actions:
                raise ProgramError(f"action id {action.id!r} is not unique")
            self.actions[action.id] = action
            out.append(action)
        return tuple(out)

    def _transitions(self, nodes: list[Any], pointer: str) -> tuple[Transition, ...]:
        out = []
        for n, t in enumerate(nodes):
            p = pointer_join(pointer, n)
            catch = t.get("catch")
            transition = Transition(
                id=t["id"],
                when=self._opt_expr(t.get("when"), p + "/when"),
                actions=self._actions(t.get("actions", []), p + "/actions"),
                target=t.get("target"),
                catch=None
                if catch is None
                else Catch(
                    actions=self._actions(catch.get("actions", []), p + "/catch/actions"),
                    target=catch.get("target"),
                ),
                pointer=p,
            )
            if transition.id in self.transitions:
                raise ProgramError(f"transition id {transition.id!r} is not unique")
            self.transitions[transition.id] = transition
            out.append(transition)
        return tuple(out)

    def _state(self, name: str, s: Mapping[str, Any]) -> State:
        p = pointer_join("/states", name)
        timers = []
        for n, t in enumerate(s.get("timers", [])):
            tp = pointer_join(p + "/timers", n)
            timer = Timer(
                id=t["id"],
                state=name,
                kind=t["kind"],
                delay_ms=t.get("delay_ms", 0),
                time=self._expr(t["time"], tp + "/time") if t["kind"] == "at" else None,
                candidates=self._transitions(t["candidates"], tp + "/candidates"),
                pointer=tp,
            )
            if timer.id in self.timers:
                raise ProgramError(f"timer id {timer.id!r} is not unique")
            self.timers[timer.id] = timer
            timers.append(timer)
        return State(
            name=name,
            final=bool(s.get("final", False)),
            enter=self._actions(s.get("enter", []), p + "/enter"),
            exit=self._actions(s.get("exit", []), p + "/exit"),
            on={
                trigger: self._transitions(cands, pointer_join(p + "/on", trigger))
                for trigger, cands in s.get("on", {}).items()
            },
            timers=tuple(timers),
            always=self._transitions(s.get("always", []), p + "/always"),
            defer=frozenset(s.get("defer", [])),
        )

    def _check_references(self) -> None:
        if self.initial not in self.states:
            raise ProgramError(f"initial state {self.initial!r} is not declared")
        for t in self.transitions.values():
            for target in (t.target, None if t.catch is None else t.catch.target):
                if target is not None and target not in self.states:
                    raise ProgramError(f"transition {t.id!r} targets unknown state {target!r}")
        for a in self.actions.values():
            if isinstance(a, CallAction) and a.effect not in self.effects:
                raise ProgramError(f"action {a.id!r} calls unknown effect {a.effect!r}")

    # ------------------------------------------------------------ queries for the shell

    def event_for(self, topic: str, payload: Any, headers: Mapping[str, str]) -> str | None:
        """The name of the first event (in declaration order) a record on `topic`
        is (every match entry holds), if any."""
        for event in self._by_topic.get(topic, ()):
            if _matches(event, payload, headers):
                return event.name
        return None

    def validate_event(self, name: str, payload: Any) -> list[str]:
        """Schema violations of an event payload (empty when valid or schemaless)."""
        return self.event_checker(name)(payload)

    def validate_signal(self, name: str, payload: Any) -> list[str]:
        """Schema violations of a signal payload (empty when valid or schemaless)."""
        return self.signal_checker(name)(payload)

    def event_checker(self, name: str) -> Callable[[Any], list[str]]:
        """`validate_event` for one event, bound once: the router checks every record."""
        event = self.events[name]
        return _schema_check(event.validator, event.quick)

    def signal_checker(self, name: str) -> Callable[[Any], list[str]]:
        """`validate_signal` for one signal, bound once."""
        signal = self.signals[name]
        return _schema_check(signal.validator, signal.quick)

    def validate_data(
        self, data: Mapping[str, Any], fields: Iterable[str] | None = None
    ) -> list[DataProblem]:
        """Schema violations of an instance's data (only of `fields` when given)."""
        return data_problems(self.field_validators, data, fields, self.field_quick)

    def starts_instance(self, name: str) -> bool:
        """Whether an event or signal called `name` may start an instance: the
        initial state handles or defers it, or moves on by itself (`always`)."""
        initial = self.states[self.initial]
        return name in initial.on or name in initial.defer or bool(initial.always)

    def span_for(self, pointer: str) -> tuple[str, list[int]] | None:
        """`(file, [line, col, end_line, end_col])` of the nearest ancestor with a span.

        Pointers are relative to `definition`, as in `ir["source"]["spans"]`.
        """
        source = self.ir.get("source") or {}
        spans: Mapping[str, list[int]] = source.get("spans") or {}
        p = pointer
        while True:
            if p in spans:
                return str(source.get("file", "")), list(spans[p])
            if not p:
                return None
            p = p.rpartition("/")[0]


def _reads_name(node: Any, name: str) -> bool:
    """Whether anything in `node` is shaped like an expression reading the root name `name`."""
    if isinstance(node, dict):
        if node.get("op") == "name" and node.get("name") == name:
            return True
        return any(_reads_name(value, name) for value in node.values())
    if isinstance(node, list):
        return any(_reads_name(item, name) for item in node)
    return False


def _matches(event: Event, payload: Any, headers: Mapping[str, str]) -> bool:
    for path, values in event.match:
        node = payload
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        if not any(equal(node, v) for v in values):
            return False
    for name, values in event.match_headers:
        if name not in headers or not any(equal(headers[name], v) for v in values):
            return False
    return True
