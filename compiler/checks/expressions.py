"""Type checks of every expression where it is written (FY401-FY406), and of the
actions that use their values: for_each (FY503), concurrency (FY504), set and
result against the data schema (FY508).
"""

from __future__ import annotations

from ...dsl.ast import CallAction, Flow, SetAction, State, Transition
from ...dsl.diagnostics import Diagnostic
from ...dsl.spans import Span
from ..typecheck.infer import check_expression, check_guard
from ..typecheck.render import render
from ..typecheck.scopes import FlowTypes, Scope, key_scope, state_scope
from ..typecheck.types import (
    DURATION,
    DYN,
    STRING,
    TIMESTAMP,
    ListType,
    Type,
    assignable,
    describe,
    element_type,
)
from .walk import Site, actions, branches, span_of


def check_expressions(flow: Flow) -> list[Diagnostic]:
    """Type-check every expression in its scope (FY4xx), and FY503, FY504, FY508."""
    types = FlowTypes.of(flow)
    out: list[Diagnostic] = []
    for event in flow.events:
        scope = key_scope(types.triggers.get(event.name, DYN), where=f"the key of {event.name}")
        out += check_expression(event.key, scope, fallback=span_of(event.name_span, event.span))[1]
    for signal in flow.signals:
        if signal.key is not None:
            scope = key_scope(
                types.triggers.get(signal.name, DYN), where=f"the key of {signal.name}"
            )
            fallback = span_of(signal.name_span, signal.span)
            out += check_expression(signal.key, scope, fallback=fallback)[1]
    for state in flow.states:
        out += _state(state, types)
    for site in actions(flow):
        out += _action(site, types)
    return out


def _state(state: State, types: FlowTypes) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for at in state.at:
        scope = state_scope(types, where=f"the time of an `at` timer in {state.name}")
        fallback = span_of(at.span, state.name_span)
        t, diags = check_expression(at.time, scope, fallback=fallback)
        out += diags
        if t not in (DYN, TIMESTAMP, STRING):
            out.append(
                Diagnostic(
                    code="FY402",
                    message=f"an `at` time must be a timestamp, but {render(at.time)} "
                    f"is {describe(t)}",
                    span=span_of(at.time.span, fallback),
                    hint="compute a timestamp, e.g. timestamp(data.at) or now + duration('1h')",
                )
            )
    for branch in branches(state):
        scope = _branch_scope(types, state, branch.kind, branch.trigger, branch.label)
        for candidate in branch.candidates:
            out += _guard(candidate, scope, branch.span)
    return out


def _branch_scope(
    types: FlowTypes, state: State, kind: str, trigger: str | None, label: str
) -> Scope:
    where = f"{label} of state {state.name}"
    return state_scope(types, where=where, trigger=trigger if kind == "on" else None)


def _guard(t: Transition, scope: Scope, fallback: Span) -> list[Diagnostic]:
    if t.when is None:
        return []
    return check_guard(t.when, scope, fallback=span_of(t.span, fallback))


def _site_scope(site: Site, types: FlowTypes) -> Scope:
    if site.branch is None:
        return state_scope(types, where=site.where)
    trigger = site.branch.trigger if site.branch.kind == "on" else None
    return state_scope(types, where=site.where, trigger=trigger)


def _action(site: Site, types: FlowTypes) -> list[Diagnostic]:
    action = site.action
    scope = _site_scope(site, types)
    span = span_of(getattr(action, "span", None), site.fallback)
    out: list[Diagnostic] = []
    if isinstance(action, SetAction):
        for name, value in action.assignments:
            t, diags = check_expression(value, scope, fallback=span)
            out += diags
            out += _fits(name, t, types, span_of(value.span, span), render(value))
    elif isinstance(action, CallAction):
        out += _call(action, scope, types, span)
    return out


def _call(action: CallAction, scope: Scope, types: FlowTypes, span: Span) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    item: Type | None = None
    if action.for_each is not None:
        t, diags = check_expression(action.for_each, scope, fallback=span)
        out += diags
        if t != DYN and not isinstance(t, ListType):
            out.append(
                Diagnostic(
                    code="FY503",
                    message=f"for_each needs a list, but {render(action.for_each)} "
                    f"is {describe(t)}",
                    span=span_of(action.for_each.span, span),
                    hint="give it a list, e.g. a data field declared with `type: array`",
                )
            )
        item = element_type(t)
    if action.concurrency is not None:
        if action.for_each is None:
            out.append(
                Diagnostic(
                    code="FY504",
                    message="`concurrency` is set on a call without `for_each`",
                    span=span,
                    hint="remove `concurrency`, or add `for_each` to call once per item",
                )
            )
        elif action.concurrency < 1:
            out.append(
                Diagnostic(
                    code="FY504",
                    message=f"concurrency is {action.concurrency}, but at least one call "
                    "must run at a time",
                    span=span,
                    hint="use concurrency: 1 or more",
                )
            )
    if action.args is not None:
        args_scope = scope.with_item(item) if item is not None else scope
        out += check_expression(action.args, args_scope, fallback=span)[1]
    if action.result is not None and action.for_each is not None:
        out += _fits(action.result, ListType(DYN), types, span, "the list of results")
    return out


def _fits(field: str, value: Type, types: FlowTypes, span: Span, shown: str) -> list[Diagnostic]:
    target = types.data_fields.get(field)
    if target is None or assignable(value, target):
        return []
    hint = "convert the value, or change the field's schema"
    if value in (TIMESTAMP, DURATION) and target == STRING:
        hint = "store it as text with string(...)"
    return [
        Diagnostic(
            code="FY508",
            message=f"data field '{field}' is {describe(target)}, but {shown} is {describe(value)}",
            span=span,
            hint=hint,
        )
    ]
