"""The flow AST: what the author wrote, in either surface, with a span on every node.

Both surfaces (YAML and the .flow DSL) produce exactly these nodes, so a flow and
its conversion compare equal. Spans are excluded from equality for that reason.

Values that the author writes in `set`, `with`, effect templates and timer times
are expressions: a YAML literal becomes a `Literal`, `"${ e }"` becomes `e`, a
string with `${ }` parts becomes a `Template`, and YAML mappings and sequences
become `MapLit` and `ListLit`. JSON Schemas are plain JSON values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TypingLiteral
from typing import TypeAlias

from .spans import NO_SPAN, Span

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal:
    """null, true/false, an integer, a double or a string."""

    value: bool | int | float | str | None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Name:
    """A root name: event, data, key, state, meta, now, env, item, args, callback."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """`target.name`."""

    target: Expr
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    """`target[index]`."""

    target: Expr
    index: Expr
    span: Span = _span()


UnaryOp = TypingLiteral["!", "-"]
BinaryOp = TypingLiteral[
    "||", "&&", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unary:
    op: UnaryOp
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Binary:
    op: BinaryOp
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Conditional:
    """`condition ? then : otherwise`."""

    condition: Expr
    then: Expr
    otherwise: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """A function call: size, has, string, int, double, timestamp, duration, matches.

    The receiver form `x.f(a)` is parsed as `f(x, a)`.
    """

    function: str
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class MapLit:
    """A map with string keys, in the order written."""

    entries: tuple[tuple[str, Expr], ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """A string with `${ }` parts: literal strings and expressions, each turned into a string."""

    parts: tuple[str | Expr, ...]
    span: Span = _span()


Expr: TypeAlias = (
    Literal
    | Name
    | Field
    | Index
    | Unary
    | Binary
    | Conditional
    | Call
    | ListLit
    | MapLit
    | Template
)


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True, slots=True, kw_only=True)
class Ref:
    """A reference to a declared name (a deferred event, say), where it was written."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Duration:
    """A duration as written (`30s`, `PT30M`) and its value in milliseconds."""

    text: str
    millis: int
    span: Span = _span()


JsonPath: TypeAlias = tuple[str | int, ...]
"""Keys and list indexes from the top of a JSON value down to one of its parts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaDecl:
    """A JSON Schema value as written (a plain JSON mapping)."""

    schema: dict[str, JSON]
    span: Span = _span()
    places: dict[JsonPath, Span] = field(default_factory=dict, compare=False, repr=False)
    """Where each part of `schema` was written, by its path (for diagnostics)."""

    def span_at(self, path: JsonPath) -> Span:
        """Where the part at `path` was written, else its nearest written ancestor."""
        for end in range(len(path), 0, -1):
            found = self.places.get(path[:end])
            if found is not None:
                return found
        return self.span


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchEntry:
    """One filter: payload field path (or header name) equals one of `values`."""

    path: str
    values: tuple[bool | int | float | str | None, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDecl:
    name: str
    topic: str
    key: Expr
    match: tuple[MatchEntry, ...] = ()
    match_headers: tuple[MatchEntry, ...] = ()
    schema: SchemaDecl | None = None
    delay: Duration | None = None
    description: str | None = None
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalDecl:
    """A named external input. With `topic` and `key` it is also read from Kafka."""

    name: str
    schema: SchemaDecl | None = None
    topic: str | None = None
    key: Expr | None = None
    description: str | None = None
    span: Span = _span()
    name_span: Span = _span()


RetryOn = str  # "timeout", "error", "5xx", "4xx", or a three-digit status such as "429"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Missing fields take the compiler's defaults (made explicit in the IR)."""

    attempts: int | None = None
    backoff: Duration | None = None
    max_backoff: Duration | None = None
    jitter: bool | None = None
    retry_on: tuple[RetryOn, ...] | None = None
    span: Span = _span()
    attempts_span: Span = _span()
    retry_on_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonEffect:
    target: str  # "package.module:function"
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpEffect:
    method: str
    url: Expr
    headers: tuple[tuple[str, Expr], ...] = ()
    body: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class EmitEffect:
    """Produce to a topic. Without `value` the call's arguments are the payload."""

    topic: str
    key: Expr | None = None
    value: Expr | None = None
    headers: tuple[tuple[str, Expr], ...] = ()
    span: Span = _span()


EffectKind: TypeAlias = PythonEffect | HttpEffect | EmitEffect


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectDecl:
    name: str
    kind: EffectKind
    timeout: Duration | None = None
    retry: RetryPolicy | None = None
    callback_timeout: Duration | None = None  # set: the call completes by callback
    concurrency: int | None = None  # at most this many calls of the effect at once
    description: str | None = None
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class DataField:
    """An instance variable: its JSON Schema (without `default`) and its default value."""

    name: str
    schema: SchemaDecl
    default: JSON = None
    has_default: bool = False
    span: Span = _span()
    name_span: Span = _span()


# ---------------------------------------------------------------- actions and states


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAction:
    """`set: {field: value, ...}`, applied in order."""

    assignments: tuple[tuple[str, Expr], ...]
    span: Span = _span()
    # Where each assigned field's name is written, in the order of `assignments`.
    name_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAction:
    """Call an effect with `args`; optionally once per item of `for_each`."""

    effect: str
    args: MapLit | None = None
    result: str | None = None
    for_each: Expr | None = None
    concurrency: int | None = None
    span: Span = _span()
    effect_span: Span = _span()
    result_span: Span = _span()


Action: TypeAlias = SetAction | CallAction


@dataclass(frozen=True, slots=True, kw_only=True)
class Catch:
    """What happens when an effect of the transition fails for good."""

    actions: tuple[Action, ...] = ()
    goto: str | None = None
    span: Span = _span()
    goto_span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One guarded candidate. `goto` None: stay, without exit or enter."""

    when: Expr | None = None
    actions: tuple[Action, ...] = ()
    goto: str | None = None
    catch: Catch | None = None
    span: Span = _span()
    goto_span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class OnClause:
    """`on: {Trigger: transition | [candidates]}` for one event or signal."""

    trigger: str
    candidates: tuple[Transition, ...]
    span: Span = _span()
    trigger_span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class AfterTimer:
    """Fires `delay` after the state is entered."""

    delay: Duration
    candidates: tuple[Transition, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class AtTimer:
    """Fires at the absolute time `time` evaluates to on entry."""

    time: Expr
    candidates: tuple[Transition, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    name: str
    final: bool = False
    description: str | None = None
    enter: tuple[Action, ...] = ()
    exit: tuple[Action, ...] = ()
    on: tuple[OnClause, ...] = ()
    after: tuple[AfterTimer, ...] = ()
    at: tuple[AtTimer, ...] = ()
    always: tuple[Transition, ...] = ()
    defer: tuple[Ref, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    name: str
    version: int
    description: str | None = None
    key: str | None = None  # the documented name of the instance key, e.g. order_id
    events: tuple[EventDecl, ...] = ()
    signals: tuple[SignalDecl, ...] = ()
    effects: tuple[EffectDecl, ...] = ()
    data: tuple[DataField, ...] = ()
    initial: str = ""
    states: tuple[State, ...] = ()
    span: Span = _span()
    initial_span: Span = _span()
