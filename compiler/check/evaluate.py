"""A small evaluator of IR expressions on sample values, for the checker only.

The checker runs guards and `set` values on a few concrete samples of each
abstract cell (see `domains`), so it needs values, not closures: one walk of the
IR tree per evaluation. Anything it cannot know statically (`env`, `meta`, a
function it does not model) evaluates to `UNKNOWN`, and a guard that is UNKNOWN
may go either way. Runtime failures (a missing field, a type mismatch) raise
`EvalError`: the real interpreter would make the instance an incident.

This is not the interpreter's evaluator (the compiler never imports the
interpreter); it follows the same CEL-like rules of docs/ir.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from ...dsl.durations import parse_duration


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""A value the checker cannot know (env, meta, or anything computed from them)."""


class EvalError(Exception):
    """The expression would fail at run time on these values."""


@dataclass(frozen=True, slots=True)
class Stamp:
    """A timestamp, in milliseconds since the epoch."""

    ms: int


@dataclass(frozen=True, slots=True)
class Span:
    """A duration, in milliseconds."""

    ms: int


def parse_stamp(text: str) -> Stamp:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise EvalError(f"not an RFC 3339 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        raise EvalError(f"timestamp {text!r} has no offset")
    return Stamp(round(parsed.timestamp() * 1000))


def format_stamp(stamp: Stamp) -> str:
    moment = datetime.fromtimestamp(stamp.ms / 1000, tz=UTC)
    text = moment.isoformat(timespec="milliseconds" if stamp.ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def evaluate(node: Any, scope: dict[str, Any]) -> Any:
    """The value of an IR expression in `scope`; UNKNOWN when it cannot be known."""
    op = node["op"]
    if op == "lit":
        return node["value"]
    if op == "name":
        return scope.get(node["name"], UNKNOWN)
    if op == "field":
        target = evaluate(node["target"], scope)
        if target is UNKNOWN:
            return UNKNOWN
        if not isinstance(target, dict) or node["name"] not in target:
            raise EvalError(f"no field {node['name']!r}")
        return target[node["name"]]
    if op == "index":
        return _index(evaluate(node["target"], scope), evaluate(node["index"], scope))
    if op == "unary":
        return _unary(node["operator"], evaluate(node["operand"], scope))
    if op == "binary":
        return _binary(node, scope)
    if op == "cond":
        c = evaluate(node["condition"], scope)
        if c is UNKNOWN:
            return UNKNOWN
        if not isinstance(c, bool):
            raise EvalError("condition is not a bool")
        return evaluate(node["then"] if c else node["otherwise"], scope)
    if op == "list":
        items = [evaluate(i, scope) for i in node["items"]]
        return UNKNOWN if any(i is UNKNOWN for i in items) else items
    if op == "map":
        entries = {e["key"]: evaluate(e["value"], scope) for e in node["entries"]}
        return UNKNOWN if any(v is UNKNOWN for v in entries.values()) else entries
    if op == "template":
        parts = [p if isinstance(p, str) else evaluate(p, scope) for p in node["parts"]]
        if any(p is UNKNOWN for p in parts):
            return UNKNOWN
        return "".join(p if isinstance(p, str) else to_text(p) for p in parts)
    if op == "call":
        return _call(node, scope)
    return UNKNOWN


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Stamp):
        return format_stamp(value)
    if isinstance(value, Span):
        return f"{value.ms}ms"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    import json

    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def is_num(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if is_num(a) and is_num(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _index(target: Any, index: Any) -> Any:
    if target is UNKNOWN or index is UNKNOWN:
        return UNKNOWN
    if isinstance(target, list) and isinstance(index, int) and not isinstance(index, bool):
        if -len(target) <= index < len(target):
            return target[index]
        raise EvalError("index out of range")
    if isinstance(target, dict) and isinstance(index, str):
        if index in target:
            return target[index]
        raise EvalError(f"no key {index!r}")
    raise EvalError("cannot index")


def _unary(operator: str, v: Any) -> Any:
    if v is UNKNOWN:
        return UNKNOWN
    if operator == "!":
        if not isinstance(v, bool):
            raise EvalError("'!' needs a bool")
        return not v
    if is_num(v):
        return -v
    if isinstance(v, Span):
        return Span(-v.ms)
    raise EvalError("'-' needs a number")


def _binary(node: dict[str, Any], scope: dict[str, Any]) -> Any:
    operator = node["operator"]
    left = evaluate(node["left"], scope)
    if operator in ("&&", "||"):
        short = operator == "||"
        if left is not UNKNOWN and not isinstance(left, bool):
            raise EvalError(f"'{operator}' needs bools")
        if left is short:
            return short
        right = evaluate(node["right"], scope)
        if right is not UNKNOWN and not isinstance(right, bool):
            raise EvalError(f"'{operator}' needs bools")
        if right is short:
            return short
        return UNKNOWN if UNKNOWN in (left, right) else right
    right = evaluate(node["right"], scope)
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if operator in ("==", "!="):
        return equal(left, right) is (operator == "==")
    if operator in ("<", "<=", ">", ">="):
        return _compare(operator, left, right)
    if operator == "in":
        if isinstance(right, list):
            return any(equal(left, x) for x in right)
        if isinstance(right, dict):
            return isinstance(left, str) and left in right
        raise EvalError("'in' needs a list or a map")
    return _arithmetic(operator, left, right)


def _compare(operator: str, a: Any, b: Any) -> bool:
    ordered = (is_num(a) and is_num(b)) or (
        type(a) is type(b) and isinstance(a, str | bool | Stamp | Span)
    )
    if not ordered:
        raise EvalError(f"cannot compare with '{operator}'")
    if isinstance(a, Stamp | Span):
        a, b = a.ms, b.ms
    if operator == "<":
        return bool(a < b)
    if operator == "<=":
        return bool(a <= b)
    if operator == ">":
        return bool(a > b)
    return bool(a >= b)


def _arithmetic(operator: str, a: Any, b: Any) -> Any:
    if is_num(a) and is_num(b):
        if operator == "+":
            result = a + b
        elif operator == "-":
            result = a - b
        elif operator == "*":
            result = a * b
        elif b == 0:
            raise EvalError("division by zero")
        elif isinstance(a, int) and isinstance(b, int):
            quotient = abs(a) // abs(b)
            quotient = quotient if (a < 0) == (b < 0) else -quotient
            result = quotient if operator == "/" else a - b * quotient
        else:
            result = a / b if operator == "/" else math.fmod(a, b)
        if isinstance(result, float) and not math.isfinite(result):
            raise EvalError("overflow")
        return result
    if operator == "+":
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if isinstance(a, list) and isinstance(b, list):
            return a + b
        if isinstance(a, Stamp) and isinstance(b, Span):
            return Stamp(a.ms + b.ms)
        if isinstance(a, Span) and isinstance(b, Span | Stamp):
            return type(b)(a.ms + b.ms)
    if operator == "-":
        if isinstance(a, Stamp) and isinstance(b, Span):
            return Stamp(a.ms - b.ms)
        if isinstance(a, Stamp) and isinstance(b, Stamp):
            return Span(a.ms - b.ms)
        if isinstance(a, Span) and isinstance(b, Span):
            return Span(a.ms - b.ms)
    raise EvalError(f"'{operator}' does not apply")


def _call(node: dict[str, Any], scope: dict[str, Any]) -> Any:
    function = node["function"]
    if function == "has":
        arg = node["args"][0]
        if arg.get("op") != "field":
            return UNKNOWN
        target = evaluate(arg["target"], scope)
        if target is UNKNOWN:
            return UNKNOWN
        return isinstance(target, dict) and arg["name"] in target
    args = [evaluate(a, scope) for a in node["args"]]
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    value = args[0] if args else None
    if function == "size":
        if isinstance(value, str | list | dict):
            return len(value)
        raise EvalError("size() needs a string, list or map")
    if function == "string":
        return to_text(value)
    if function == "timestamp":
        if isinstance(value, Stamp):
            return value
        if isinstance(value, str):
            return parse_stamp(value)
        raise EvalError("timestamp() needs a string")
    if function == "duration":
        if isinstance(value, Span):
            return value
        if isinstance(value, str):
            ms = parse_duration(value)
            if ms is None:
                raise EvalError(f"not a duration: {value!r}")
            return Span(ms)
        raise EvalError("duration() needs a string")
    if function == "int" and is_num(value):
        return int(value)
    if function == "double" and is_num(value):
        return float(value)
    if function == "matches" and isinstance(value, str) and isinstance(args[1], str):
        try:
            return re.search(args[1], value) is not None
        except re.error:
            return UNKNOWN
    return UNKNOWN
