"""Walking a flow's states: their candidate lists and their actions, with context."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ...dsl.ast import Action, Flow, State, Transition
from ...dsl.spans import NO_SPAN, Span


def span_of(*spans: Span | None) -> Span:
    """The first real span among `spans` (nodes built by hand may have none)."""
    for span in spans:
        if isinstance(span, Span) and span != NO_SPAN:
            return span
    return NO_SPAN


@dataclass(frozen=True, slots=True)
class Branch:
    """One trigger of a state with its ordered candidates: `on X`, `after 30m`, `at`, `always`."""

    state: State
    kind: str
    trigger: str | None
    candidates: tuple[Transition, ...]
    span: Span
    label: str


def branches(state: State) -> list[Branch]:
    """The state's triggers with their candidates, in source order: on, after, at, always."""
    out: list[Branch] = []
    for clause in state.on:
        out.append(
            Branch(
                state,
                "on",
                clause.trigger,
                clause.candidates,
                span_of(clause.trigger_span, clause.span, state.name_span),
                f"`on {clause.trigger}`",
            )
        )
    for timer in state.after:
        label = f"`after {timer.delay.text}`"
        span = span_of(timer.span, timer.delay.span, state.name_span)
        out.append(Branch(state, "after", None, timer.candidates, span, label))
    for at in state.at:
        span = span_of(at.span, at.time.span, state.name_span)
        out.append(Branch(state, "at", None, at.candidates, span, "an `at` timer"))
    if state.always:
        first = state.always[0]
        span = span_of(first.span, state.name_span)
        out.append(Branch(state, "always", None, state.always, span, "`always`"))
    return out


@dataclass(frozen=True, slots=True)
class Site:
    """An action and where it is written: its state, and its trigger when in `on`."""

    action: Action
    state: State
    branch: Branch | None
    where: str
    fallback: Span


def actions(flow: Flow) -> Iterator[Site]:
    """Every action in every state, in source order, with the context it runs in."""
    for state in flow.states:
        base = span_of(state.name_span, state.span)
        for action in state.enter:
            yield Site(action, state, None, f"the `enter` actions of {state.name}", base)
        for action in state.exit:
            yield Site(action, state, None, f"the `exit` actions of {state.name}", base)
        for branch in branches(state):
            where = f"{branch.label} of state {state.name}"
            for t in branch.candidates:
                fallback = span_of(t.span, branch.span)
                for action in t.actions:
                    yield Site(action, state, branch, where, fallback)
                if t.catch is not None:
                    for action in t.catch.actions:
                        yield Site(action, state, branch, where, span_of(t.catch.span, fallback))


def transitions(flow: Flow) -> Iterator[tuple[Branch, Transition]]:
    """Every candidate transition of every state, with its branch."""
    for state in flow.states:
        for branch in branches(state):
            for t in branch.candidates:
                yield branch, t
