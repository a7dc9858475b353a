"""State-machine structure: final states, reachability, dead ends, shadowing, loops (FY3xx)."""

from __future__ import annotations

from ...dsl.ast import Flow, Literal, State, Transition
from ...dsl.diagnostics import Diagnostic
from .walk import branches, span_of


def check_structure(flow: Flow) -> list[Diagnostic]:
    """FY301-FY306 for every state, plus reachability and `always` loops."""
    out: list[Diagnostic] = []
    for state in flow.states:
        out += _final_transitions(state)
        out += _dead_end(state)
        out += _shadowed(state)
        out += _handled_and_deferred(state)
    out += _unreachable(flow)
    out += _always_cycles(flow)
    return out


def unguarded(t: Transition) -> bool:
    """A candidate that always runs when tried: no `when`, or `when: true`."""
    return t.when is None or (isinstance(t.when, Literal) and t.when.value is True)


def _final_transitions(state: State) -> list[Diagnostic]:
    if not state.final:
        return []
    return [
        Diagnostic(
            code="FY301",
            message=f"final state '{state.name}' has a transition ({b.label})",
            span=b.span,
            hint="a final state ends the instance: remove the transition, "
            "or remove `final: true` (final states may still have `enter` actions)",
        )
        for b in branches(state)
    ]


def _dead_end(state: State) -> list[Diagnostic]:
    if state.final:
        return []
    targets = [
        target
        for b in branches(state)
        for t in b.candidates
        for target in (t.goto, t.catch.goto if t.catch else None)
        if target is not None and target != state.name
    ]
    if targets:
        return []
    has_any = any(b.candidates for b in branches(state))
    why = "every transition stays in it" if has_any else "it has no transitions"
    return [
        Diagnostic(
            code="FY303",
            message=f"state '{state.name}' is not final, but {why}: instances stay there forever",
            span=span_of(state.name_span, state.span),
            hint="add a transition with `goto` to another state, or mark it `final: true`",
        )
    ]


def _shadowed(state: State) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for b in branches(state):
        for i, t in enumerate(b.candidates):
            if unguarded(t) and i + 1 < len(b.candidates):
                for later in b.candidates[i + 1 :]:
                    out.append(
                        Diagnostic(
                            code="FY304",
                            message=f"this candidate of {b.label} in state '{state.name}' never "
                            f"runs: candidate {i + 1} has no guard and always matches first",
                            span=span_of(later.span, b.span),
                            hint="move the unguarded candidate last, or give it a `when`",
                        )
                    )
                break
    return out


def _handled_and_deferred(state: State) -> list[Diagnostic]:
    handled = {c.trigger for c in state.on}
    return [
        Diagnostic(
            code="FY306",
            message=f"'{ref.name}' is both handled and deferred in state '{state.name}'",
            span=span_of(ref.span, state.name_span),
            hint="remove it from `defer` (the handler takes it) or remove its `on` handler",
        )
        for ref in state.defer
        if ref.name in handled
    ]


def _unreachable(flow: Flow) -> list[Diagnostic]:
    by_name = {s.name: s for s in flow.states}
    if flow.initial not in by_name:
        return []
    seen = {flow.initial}
    todo = [flow.initial]
    while todo:
        state = by_name[todo.pop()]
        for b in branches(state):
            for t in b.candidates:
                for target in (t.goto, t.catch.goto if t.catch else None):
                    if target is not None and target not in by_name:
                        return []  # an unknown goto (FY202) makes reachability guesswork
                    if target is not None and target not in seen:
                        seen.add(target)
                        todo.append(target)
    return [
        Diagnostic(
            code="FY302",
            message=f"state '{s.name}' is unreachable from the initial state '{flow.initial}'",
            span=span_of(s.name_span, s.span),
            hint="add a `goto` to it from a reachable state, or remove it",
        )
        for s in flow.states
        if s.name not in seen
    ]


def _always_cycles(flow: Flow) -> list[Diagnostic]:
    """Loops of `always` transitions that nothing can stop.

    Only the first unguarded `always` candidate of a state can run, so each state
    has at most one such edge and the loops are found by following them.
    """
    states = {s.name: s for s in flow.states}
    step: dict[str, tuple[str, Transition]] = {}
    for s in flow.states:
        for t in s.always:
            if unguarded(t):
                if t.goto is not None and t.goto in states:
                    step.setdefault(s.name, (t.goto, t))
                break
    out: list[Diagnostic] = []
    reported: set[frozenset[str]] = set()
    for start in step:
        path: list[str] = []
        current: str | None = start
        while current is not None and current in step and current not in path:
            path.append(current)
            current = step[current][0]
        if current is None or current not in path:
            continue
        cycle = path[path.index(current) :]
        key = frozenset(cycle)
        if key in reported:
            continue
        reported.add(key)
        first = min(cycle, key=[s.name for s in flow.states].index)
        t = step[first][1]
        loop = " -> ".join([*cycle[cycle.index(first) :], *cycle[: cycle.index(first)], first])
        out.append(
            Diagnostic(
                code="FY305",
                message=f"`always` transitions loop forever without a guard: {loop}",
                span=span_of(t.goto_span, t.span, states[first].name_span),
                hint="give one of these `always` transitions a `when` that becomes false",
            )
        )
    return out
