"""Name resolution: duplicates (FY201), unknown references (FY202-FY208), unused (FY307)."""

from __future__ import annotations

from collections.abc import Iterable

from ...dsl.ast import CallAction, Flow, SetAction
from ...dsl.diagnostics import Diagnostic, did_you_mean
from ...dsl.spans import Span
from .walk import actions, span_of, transitions


def _suggest(name: str, known: Iterable[str], kind: str, how: str) -> str:
    names = sorted(set(known))
    guess = did_you_mean(name, names)
    if guess:
        return f"did you mean '{guess}'?"
    if names:
        return f"declared {kind}: {', '.join(names)}"
    return how


def check_names(flow: Flow) -> list[Diagnostic]:
    """FY201-FY208 (duplicates and unknown references) and FY307 (unused)."""
    out = _duplicates(flow)
    out += _initial(flow)
    out += _references(flow)
    out += _unused(flow)
    return out


def _duplicates(flow: Flow) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    groups: list[tuple[str, list[tuple[str, Span]]]] = [
        ("state", [(s.name, span_of(s.name_span, s.span)) for s in flow.states]),
        ("event", [(e.name, span_of(e.name_span, e.span)) for e in flow.events]),
        ("signal", [(s.name, span_of(s.name_span, s.span)) for s in flow.signals]),
        ("effect", [(e.name, span_of(e.name_span, e.span)) for e in flow.effects]),
        ("data field", [(d.name, span_of(d.name_span, d.span)) for d in flow.data]),
    ]
    for kind, named in groups:
        first: dict[str, Span] = {}
        for name, span in named:
            if name in first:
                out.append(
                    Diagnostic(
                        code="FY201",
                        message=f"{kind} '{name}' is declared twice",
                        span=span,
                        hint=f"rename or remove one; the first is at line {first[name].line}",
                    )
                )
            else:
                first[name] = span
    events = {e.name: span_of(e.name_span, e.span) for e in flow.events}
    for s in flow.signals:
        if s.name in events:
            out.append(
                Diagnostic(
                    code="FY201",
                    message=f"'{s.name}' is both an event and a signal",
                    span=span_of(s.name_span, s.span),
                    hint="events and signals share one namespace (both are `on` triggers); "
                    "rename one of them",
                )
            )
    for state in flow.states:
        seen: set[str] = set()
        for clause in state.on:
            if clause.trigger in seen:
                out.append(
                    Diagnostic(
                        code="FY201",
                        message=f"state '{state.name}' handles '{clause.trigger}' twice",
                        span=span_of(clause.trigger_span, clause.span, state.name_span),
                        hint="merge them into one list of candidates, tried in order",
                    )
                )
            seen.add(clause.trigger)
    return out


def _initial(flow: Flow) -> list[Diagnostic]:
    span = span_of(flow.initial_span, flow.span)
    states = [s.name for s in flow.states]
    if not states:
        return [
            Diagnostic(
                code="FY203",
                message="the flow declares no states",
                span=span,
                hint="declare at least one state under `states:` and name it in `initial:`",
            )
        ]
    if not flow.initial:
        return [
            Diagnostic(
                code="FY203",
                message="the flow has no initial state",
                span=span,
                hint=f"add `initial: {states[0]}` (or another state)",
            )
        ]
    if flow.initial not in states:
        return [
            Diagnostic(
                code="FY203",
                message=f"initial state '{flow.initial}' is not declared",
                span=span,
                hint=_suggest(flow.initial, states, "states", "declare it under `states:`"),
            )
        ]
    return []


def _references(flow: Flow) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    states = {s.name for s in flow.states}
    triggers = {e.name for e in flow.events} | {s.name for s in flow.signals}
    effects = {e.name for e in flow.effects}
    data = {d.name for d in flow.data}

    def goto(target: str | None, span: Span) -> None:
        if target is not None and target not in states:
            out.append(
                Diagnostic(
                    code="FY202",
                    message=f"`goto` names an unknown state '{target}'",
                    span=span,
                    hint=_suggest(target, states, "states", "declare it under `states:`"),
                )
            )

    for branch, t in transitions(flow):
        goto(t.goto, span_of(t.goto_span, t.span, branch.span))
        if t.catch is not None:
            goto(t.catch.goto, span_of(t.catch.goto_span, t.catch.span, t.span, branch.span))
    for state in flow.states:
        for clause in state.on:
            if clause.trigger not in triggers:
                out.append(
                    Diagnostic(
                        code="FY204",
                        message=f"`on` names an unknown event or signal '{clause.trigger}'",
                        span=span_of(clause.trigger_span, clause.span, state.name_span),
                        hint=_suggest(
                            clause.trigger,
                            triggers,
                            "events and signals",
                            "declare it under `events:` or `signals:`",
                        ),
                    )
                )
        for ref in state.defer:
            if ref.name not in triggers:
                out.append(
                    Diagnostic(
                        code="FY207",
                        message=f"state '{state.name}' defers '{ref.name}', "
                        "which the flow does not declare",
                        span=span_of(ref.span, state.name_span),
                        hint=_suggest(
                            ref.name, triggers, "events and signals", "declare it under `events:`"
                        ),
                    )
                )
    for site in actions(flow):
        action = site.action
        span = span_of(getattr(action, "span", None), site.fallback)
        if isinstance(action, SetAction):
            names = action.name_spans
            for i, (name, _) in enumerate(action.assignments):
                if name not in data:
                    out.append(
                        Diagnostic(
                            code="FY206",
                            message=f"`set` of undeclared data field '{name}'",
                            span=span_of(names[i] if i < len(names) else None, span),
                            hint=_suggest(name, data, "data fields", "declare it under `data:`"),
                        )
                    )
        elif isinstance(action, CallAction):
            if action.effect not in effects:
                out.append(
                    Diagnostic(
                        code="FY205",
                        message=f"`call` of unknown effect '{action.effect}'",
                        span=span_of(action.effect_span, span),
                        hint=_suggest(
                            action.effect, effects, "effects", "declare it under `effects:`"
                        ),
                    )
                )
            if action.result is not None and action.result not in data:
                out.append(
                    Diagnostic(
                        code="FY208",
                        message=f"`result` goes into undeclared data field '{action.result}'",
                        span=span_of(action.result_span, span),
                        hint=_suggest(
                            action.result, data, "data fields", "declare it under `data:`"
                        ),
                    )
                )
    return out


def _unused(flow: Flow) -> list[Diagnostic]:
    used_triggers: set[str] = set()
    for state in flow.states:
        used_triggers.update(c.trigger for c in state.on)
        used_triggers.update(r.name for r in state.defer)
    called = {s.action.effect for s in actions(flow) if isinstance(s.action, CallAction)}
    # A misspelt reference is already an error that suggests the declaration it meant:
    # count it as a use, so one typo is not reported twice.
    used_triggers |= _meant(
        used_triggers, {e.name for e in flow.events} | {s.name for s in flow.signals}
    )
    called |= _meant(called, {e.name for e in flow.effects})
    out: list[Diagnostic] = []
    declared: list[tuple[str, str, Span, bool]] = [
        ("event", e.name, span_of(e.name_span, e.span), e.name in used_triggers)
        for e in flow.events
    ]
    declared += [
        ("signal", s.name, span_of(s.name_span, s.span), s.name in used_triggers)
        for s in flow.signals
    ]
    declared += [
        ("effect", e.name, span_of(e.name_span, e.span), e.name in called) for e in flow.effects
    ]
    for kind, name, span, used in declared:
        if not used:
            how = "handle it with `on` in some state" if kind != "effect" else "`call` it"
            out.append(
                Diagnostic(
                    code="FY307",
                    message=f"{kind} '{name}' is declared but never used",
                    span=span,
                    hint=f"{how}, or remove the declaration",
                )
            )
    return out


def _meant(references: set[str], declared: set[str]) -> set[str]:
    """The declarations that unknown references in `references` were probably meant to name."""
    guesses = (did_you_mean(name, declared) for name in references - declared)
    return {guess for guess in guesses if guess is not None}
