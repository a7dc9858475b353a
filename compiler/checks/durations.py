"""Durations (FY501) and event delays and match filters (FY507)."""

from __future__ import annotations

from ...dsl.ast import Duration, EventDecl, Flow, MatchEntry
from ...dsl.diagnostics import Diagnostic, did_you_mean
from ...dsl.spans import Span
from ..jsonschema_types import schema_type, value_type
from ..typecheck.types import DYN, ObjectType, Type, comparable, describe, field_type
from .walk import span_of

# Ten years: anything longer is a typo (a unit slip), not a real timeout.
MAX_MILLIS = 10 * 365 * 86_400_000


def check_durations(flow: Flow) -> list[Diagnostic]:
    """FY501 for effect and timer durations; FY507 for event delays and matches."""
    out: list[Diagnostic] = []
    for effect in flow.effects:
        where = f"effect {effect.name}"
        fallback = span_of(effect.name_span, effect.span)
        out += _duration(effect.timeout, f"the timeout of {where}", fallback, positive=True)
        out += _duration(
            effect.callback_timeout, f"the callback timeout of {where}", fallback, positive=True
        )
        if effect.retry is not None:
            retry_span = span_of(effect.retry.span, fallback)
            out += _duration(effect.retry.backoff, f"the backoff of {where}", retry_span)
            out += _duration(effect.retry.max_backoff, f"the max_backoff of {where}", retry_span)
    for state in flow.states:
        for timer in state.after:
            fallback = span_of(timer.span, state.name_span)
            out += _duration(timer.delay, f"`after` in state {state.name}", fallback)
    for event in flow.events:
        out += _event(event)
    return out


def _duration(
    d: Duration | None, what: str, fallback: Span, *, positive: bool = False, code: str = "FY501"
) -> list[Diagnostic]:
    if d is None:
        return []
    span = span_of(d.span, fallback)
    if d.millis < 0 or (positive and d.millis == 0):
        bound = "greater than zero" if positive else "zero or more"
        return [
            Diagnostic(
                code=code,
                message=f"{what} is '{d.text}', but it must be {bound}",
                span=span,
                hint="write a positive duration like '500ms', '30s', '5m', '2h' or '1d'",
            )
        ]
    if d.millis > MAX_MILLIS:
        return [
            Diagnostic(
                code=code,
                message=f"{what} is '{d.text}', which is more than ten years",
                span=span,
                hint="check the unit (ms, s, m, h, d); for far-off dates use an `at` timer",
            )
        ]
    return []


def _event(event: EventDecl) -> list[Diagnostic]:
    fallback = span_of(event.name_span, event.span)
    out = _duration(
        event.delay, f"the delay of event {event.name}", fallback, positive=True, code="FY507"
    )
    if event.delay is not None and event.delay.millis == 0 and out:
        out = [
            Diagnostic(
                code="FY507",
                message=f"the delay of event {event.name} is zero",
                span=span_of(event.delay.span, fallback),
                hint="remove `delay` to process the event at once, or give a positive duration",
            )
        ]
    payload = schema_type(event.schema.schema) if event.schema else DYN
    seen: set[str] = set()
    for entry in event.match:
        out += _match_entry(event, entry, payload, seen, fallback, header=False)
    seen = set()
    for entry in event.match_headers:
        out += _match_entry(event, entry, payload, seen, fallback, header=True)
    return out


def _match_entry(
    event: EventDecl,
    entry: MatchEntry,
    payload: Type,
    seen: set[str],
    fallback: Span,
    *,
    header: bool,
) -> list[Diagnostic]:
    span = span_of(entry.span, fallback)
    what = "header" if header else "field"

    def bad(message: str, hint: str) -> list[Diagnostic]:
        return [Diagnostic(code="FY507", message=message, span=span, hint=hint)]

    if not entry.path or (not header and "" in entry.path.split(".")):
        return bad(
            f"event {event.name} matches on an invalid {what} name '{entry.path}'",
            "write a field path like `type` or `order.kind`",
        )
    if entry.path in seen:
        return bad(
            f"event {event.name} matches {what} '{entry.path}' twice",
            "list all accepted values in one entry: `path: [a, b]`",
        )
    seen.add(entry.path)
    if not entry.values:
        return bad(
            f"the match on {what} '{entry.path}' of event {event.name} lists no values, "
            "so the event never matches",
            "give at least one value",
        )
    if header:
        if not all(isinstance(v, str) for v in entry.values):
            return bad(
                f"header '{entry.path}' of event {event.name} is matched against a non-string",
                "header values are strings: quote the value",
            )
        return []
    return _match_against_schema(event, entry, payload, span)


def _match_against_schema(
    event: EventDecl, entry: MatchEntry, payload: Type, span: Span
) -> list[Diagnostic]:
    t = payload
    for segment in entry.path.split("."):
        if not isinstance(t, ObjectType):
            return []
        found = field_type(t, segment)
        if found is None:
            if t.additional is not None:
                return []  # undeclared but allowed: a discriminator field, say
            guess = did_you_mean(segment, t.names())
            return [
                Diagnostic(
                    code="FY507",
                    message=f"event {event.name} matches on '{entry.path}', which its schema "
                    "does not declare and forbids (additionalProperties: false)",
                    span=span,
                    hint=f"did you mean '{guess}'?" if guess else "add the field to the schema",
                )
            ]
        t = found
    clashing = [v for v in entry.values if not comparable(value_type(v), t)]
    if clashing:
        return [
            Diagnostic(
                code="FY507",
                message=f"the match on '{entry.path}' of event {event.name} can never hold: "
                f"the field is {describe(t)}, {clashing[0]!r} is "
                f"{describe(value_type(clashing[0]))}",
                span=span,
                hint="match against values of the field's type (quote numbers for string fields)",
            )
        ]
    return []
