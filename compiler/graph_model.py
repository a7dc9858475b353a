"""The drawable shape of a flow, built from its IR: states, transitions and their labels.

Every renderer (Mermaid, DOT, JSON) draws from this one model, so they agree on
what is shown, in what order, and under which ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .graph_expr import expr_to_text

EdgeKind: TypeAlias = Literal["event", "signal", "timer", "always"]

# Assigned values longer than this are cut in labels; guards never are.
MAX_VALUE_CHARS = 40

_DURATION_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpan:
    """Where a state or transition was written: 1-based, end exclusive."""

    file: str | None
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectUse:
    """One `call` action and how its effect runs (what makes a transition long-running)."""

    action_id: str
    effect: str
    kind: str
    result: str | None
    for_each: str | None
    concurrency: int | None
    attempts: int
    timeout_ms: int
    callback_timeout_ms: int | None

    def policy(self) -> str:
        """A short description of how the call runs, e.g. `5 attempts, timeout 30s`."""
        parts = [f"{self.kind}"]
        if self.for_each is not None:
            parts.append(f"for each {self.for_each}" + _concurrency(self.concurrency))
        parts.append("1 attempt" if self.attempts == 1 else f"{self.attempts} attempts")
        parts.append(f"timeout {format_duration(self.timeout_ms)}")
        if self.callback_timeout_ms is not None:
            parts.append(f"callback ≤ {format_duration(self.callback_timeout_ms)}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerInfo:
    """The timer a `timer` edge belongs to: `after` a delay, or `at` a computed time."""

    id: str
    kind: Literal["after", "at"]
    delay_ms: int | None
    time: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CatchBranch:
    """Where a transition goes when one of its effects fails for good."""

    target: str
    stay: bool
    actions: tuple[str, ...]
    effects: tuple[EffectUse, ...]
    span: SourceSpan | None

    def label(self) -> str:
        """`catch / action; action`, with `(stay)` when it does not leave the state."""
        text = "catch"
        if self.actions:
            text += " / " + "; ".join(self.actions)
        return f"{text} (stay)" if self.stay else text


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """One transition candidate. `target` is the source state itself when `stay`."""

    id: str
    graph_id: str
    kind: EdgeKind
    source: str
    target: str
    stay: bool
    trigger: str
    input: str | None
    timer: TimerInfo | None
    guard: str | None
    actions: tuple[str, ...]
    effects: tuple[EffectUse, ...]
    catch: CatchBranch | None
    span: SourceSpan | None

    @property
    def running_id(self) -> str:
        """The id of the "running" node drawn for a long-running transition."""
        return "run_" + self.graph_id

    @property
    def long_running(self) -> bool:
        """True when the transition calls effects, so the instance waits mid-way."""
        return bool(self.effects)

    def head(self) -> str:
        """`trigger [guard]`: what makes the transition fire."""
        return self.trigger if self.guard is None else f"{self.trigger} [{self.guard}]"

    def label(self) -> str:
        """`trigger [guard] / action; action`, as shown on the edge."""
        text = self.head()
        if self.actions:
            text = f"{text} / {'; '.join(self.actions)}"
        return f"{text} (stay)" if self.stay else text


@dataclass(frozen=True, slots=True, kw_only=True)
class StateNode:
    name: str
    graph_id: str
    initial: bool
    final: bool
    enter: tuple[str, ...]
    exit: tuple[str, ...]
    defer: tuple[str, ...]
    span: SourceSpan | None

    def details(self) -> tuple[str, ...]:
        """The lines shown under the state's name: entry and exit actions, deferred events."""
        lines = [f"enter / {action}" for action in self.enter]
        lines += [f"exit / {action}" for action in self.exit]
        if self.defer:
            lines.append(f"defer {', '.join(self.defer)}")
        return tuple(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowGraph:
    flow: str
    version: int
    description: str | None
    initial: str
    states: tuple[StateNode, ...]
    edges: tuple[Edge, ...]

    def state_id(self, name: str) -> str:
        """The graph id of the state called `name`."""
        for state in self.states:
            if state.name == name:
                return state.graph_id
        raise ValueError(f"transition to undeclared state {name!r}")


class _Ids:
    """Stable, unique identifiers made of `[A-Za-z0-9_]`, safe in every output format."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def make(self, prefix: str, name: str) -> str:
        base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)
        candidate, n = base, 2
        while candidate in self._taken:
            candidate, n = f"{base}_{n}", n + 1
        self._taken.add(candidate)
        return candidate


def format_duration(ms: int) -> str:
    """`1800000` -> `30m`, `5400000` -> `1h30m`, `0` -> `0s`."""
    if ms <= 0:
        return "0s"
    parts: list[str] = []
    rest = ms
    for unit, size in _DURATION_UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def pointer_token(name: str) -> str:
    """Escape one JSON Pointer reference token (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")


def build_graph(ir: Mapping[str, Any]) -> FlowGraph:
    """Build the drawable model of a flow from its IR (docs/ir.md)."""
    definition: Mapping[str, Any] = ir["definition"]
    builder = _Builder(ir)
    states: list[StateNode] = []
    edges: list[Edge] = []
    initial = str(definition["initial"])
    for name, state in definition["states"].items():
        states.append(builder.state(name, state, initial=name == initial))
    for name, state in definition["states"].items():
        edges.extend(builder.edges(name, state))
    return FlowGraph(
        flow=str(ir["flow"]),
        version=int(ir["version"]),
        description=definition.get("description"),
        initial=initial,
        states=tuple(states),
        edges=tuple(edges),
    )


class _Builder:
    def __init__(self, ir: Mapping[str, Any]) -> None:
        definition: Mapping[str, Any] = ir["definition"]
        self._signals: Mapping[str, Any] = definition.get("signals") or {}
        self._effects: Mapping[str, Any] = definition.get("effects") or {}
        source: Mapping[str, Any] = ir.get("source") or {}
        self._file: str | None = source.get("file")
        self._spans: Mapping[str, Sequence[int]] = source.get("spans") or {}
        self._ids = _Ids()
        self._state_ids = {name: self._ids.make("s_", name) for name in definition["states"]}

    def span(self, *pointers: str) -> SourceSpan | None:
        for pointer in pointers:
            found = self._spans.get(pointer)
            if found is not None and len(found) == 4:
                line, column, end_line, end_column = (int(n) for n in found)
                return SourceSpan(
                    file=self._file,
                    line=line,
                    column=column,
                    end_line=end_line,
                    end_column=end_column,
                )
        return None

    def state(self, name: str, state: Mapping[str, Any], *, initial: bool) -> StateNode:
        return StateNode(
            name=name,
            graph_id=self._state_ids[name],
            initial=initial,
            final=bool(state.get("final", False)),
            enter=tuple(action_text(a) for a in state.get("enter", [])),
            exit=tuple(action_text(a) for a in state.get("exit", [])),
            defer=tuple(str(d) for d in state.get("defer", [])),
            span=self.span(f"/states/{pointer_token(name)}"),
        )

    def edges(self, name: str, state: Mapping[str, Any]) -> list[Edge]:
        base = f"/states/{pointer_token(name)}"
        edges: list[Edge] = []
        for trigger, candidates in state.get("on", {}).items():
            kind: EdgeKind = "signal" if trigger in self._signals else "event"
            label = f"signal {trigger}" if kind == "signal" else str(trigger)
            pointer = f"{base}/on/{pointer_token(trigger)}"
            for n, candidate in enumerate(candidates):
                edges.append(
                    self.edge(name, kind, label, candidate, (f"{pointer}/{n}",), input_name=trigger)
                )
        for t, timer in enumerate(state.get("timers", [])):
            info = _timer_info(timer, f"{name}/timers/{t}")
            if info.kind == "after":
                label = f"◷ after {format_duration(info.delay_ms or 0)}"
            else:
                label = f"◷ at {info.time}"
            pointer = f"{base}/timers/{t}"
            for n, candidate in enumerate(timer.get("candidates", [])):
                pointers = (f"{pointer}/candidates/{n}", pointer)
                edges.append(self.edge(name, "timer", label, candidate, pointers, timer=info))
        for n, candidate in enumerate(state.get("always", [])):
            always = (f"{base}/always/{n}",)
            edges.append(self.edge(name, "always", "always", candidate, always))
        return edges

    def edge(
        self,
        source: str,
        kind: EdgeKind,
        trigger: str,
        transition: Mapping[str, Any],
        pointers: tuple[str, ...],
        *,
        input_name: str | None = None,
        timer: TimerInfo | None = None,
    ) -> Edge:
        """One candidate; `pointers` locate it in the source map, most precise first."""
        target = transition.get("target")
        when = transition.get("when")
        actions = transition.get("actions", [])
        transition_id = str(transition.get("id") or pointers[0])
        return Edge(
            id=transition_id,
            graph_id=self._ids.make("t_", transition_id),
            kind=kind,
            source=source,
            target=source if target is None else str(target),
            stay=target is None,
            trigger=trigger,
            input=input_name,
            timer=timer,
            guard=None if when is None else expr_to_text(when),
            actions=tuple(action_text(a) for a in actions),
            effects=self.effects_of(actions),
            catch=self.catch(source, transition.get("catch"), pointers[0]),
            span=self.span(*pointers),
        )

    def catch(
        self, source: str, catch: Mapping[str, Any] | None, pointer: str
    ) -> CatchBranch | None:
        if catch is None:
            return None
        target = catch.get("target")
        actions = catch.get("actions", [])
        return CatchBranch(
            target=source if target is None else str(target),
            stay=target is None,
            actions=tuple(action_text(a) for a in actions),
            effects=self.effects_of(actions),
            span=self.span(f"{pointer}/catch", pointer),
        )

    def effects_of(self, actions: Sequence[Mapping[str, Any]]) -> tuple[EffectUse, ...]:
        uses: list[EffectUse] = []
        for action in actions:
            if action.get("op") != "call":
                continue
            name = str(action["effect"])
            effect: Mapping[str, Any] = self._effects.get(name) or {}
            retry: Mapping[str, Any] = effect.get("retry") or {}
            callback: Mapping[str, Any] | None = effect.get("callback")
            for_each = action.get("for_each")
            concurrency = action.get("concurrency")
            uses.append(
                EffectUse(
                    action_id=str(action.get("id", "")),
                    effect=name,
                    kind=str(effect.get("kind", "?")),
                    result=action.get("result"),
                    for_each=None if for_each is None else expr_to_text(for_each),
                    concurrency=None if concurrency is None else int(concurrency),
                    attempts=int(retry.get("attempts", 1)),
                    timeout_ms=int(effect.get("timeout_ms", 0)),
                    callback_timeout_ms=(
                        None if callback is None else int(callback.get("timeout_ms", 0))
                    ),
                )
            )
        return tuple(uses)


def _timer_info(timer: Mapping[str, Any], fallback_id: str) -> TimerInfo:
    if timer.get("kind") == "at":
        return TimerInfo(
            id=str(timer.get("id") or fallback_id),
            kind="at",
            delay_ms=None,
            time=expr_to_text(timer["time"]),
        )
    return TimerInfo(
        id=str(timer.get("id") or fallback_id),
        kind="after",
        delay_ms=int(timer["delay_ms"]),
        time=None,
    )


def action_text(action: Mapping[str, Any]) -> str:
    """`set total = event.total` or `call deliver for each data.subscribers`."""
    if action.get("op") == "set":
        assignments = ", ".join(
            f"{a['field']} = {_shorten(expr_to_text(a['value']))}" for a in action.get("assign", [])
        )
        return f"set {assignments}"
    text = f"call {action['effect']}"
    for_each = action.get("for_each")
    if for_each is not None:
        text += f" for each {_shorten(expr_to_text(for_each))}"
    return text


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _concurrency(concurrency: int | None) -> str:
    return "" if concurrency is None or concurrency == 1 else f" ({concurrency} at a time)"
