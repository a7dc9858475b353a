"""IR expression trees -> Python closures `(scope) -> value`, compiled once per flow.

Never `eval`: each IR node becomes a small closure over its compiled children.
Semantics are CEL-like (see docs/ir.md): integers and doubles are distinct but
mix in arithmetic, bools are not numbers, `&&`/`||` short-circuit, `+` joins
strings and lists, `in` tests list membership and map keys, timestamps and
durations are `Timestamp`/`Duration` values with exact millisecond arithmetic.

Every runtime failure raises `ExprError(message, pointer)`, where `pointer` is
the IR JSON pointer of the failing node; the shell maps it to a source position
with `ir["source"]["spans"]` (walking up to the nearest pointer that has a span).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from operator import add, mul, sub
from typing import Any

from . import regex
from .expr_values import (
    ConversionError,
    Duration,
    Timestamp,
    equal,
    parse_duration,
    parse_timestamp,
    to_text,
    type_name,
)
from .storable import INT_LIMIT, MAX_INT_BITS, MAX_INT_DIGITS

Scope = Mapping[str, Any]
Compiled = Callable[[Scope], Any]

ROOT_NAMES = frozenset(
    {"event", "data", "key", "state", "meta", "now", "env", "item", "args", "callback"}
)
FUNCTIONS = frozenset(
    {"size", "has", "string", "int", "double", "timestamp", "duration", "matches"}
)


class ExprError(Exception):
    """A runtime failure of an expression, with the IR pointer of the failing node."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer

    def __str__(self) -> str:
        return f"{self.message} (at {self.pointer})"


class ExprCompileError(ValueError):
    """The IR holds an expression this interpreter does not understand."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(f"{message} (at {pointer})")
        self.pointer = pointer


def pointer_join(pointer: str, *parts: str | int) -> str:
    """Extend an RFC 6901 JSON pointer, escaping `~` and `/`."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/".join((pointer, *escaped))


def compile_expr(node: Any, pointer: str) -> Compiled:
    """Compile one IR expression; the result raises only `ExprError` when called."""
    inner = _compile(node, pointer)
    if _raises_only_expr_errors(node):
        return inner

    def guarded(scope: Scope) -> Any:
        try:
            return inner(scope)
        except ExprError:
            raise
        except ConversionError as exc:
            raise ExprError(str(exc), pointer) from None
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError) as exc:
            raise ExprError(f"{type(exc).__name__}: {exc}", pointer) from None

    return guarded


def _raises_only_expr_errors(node: dict[str, Any]) -> bool:
    """Literals, root names and their fields (`data.count`): these need no guard."""
    op = node["op"]
    if op in ("lit", "name"):
        return True
    target = node.get("target")
    return op == "field" and isinstance(target, dict) and target.get("op") == "name"


def _compile(node: Any, ptr: str) -> Compiled:
    if not isinstance(node, dict) or not isinstance(node.get("op"), str):
        raise ExprCompileError("an expression must be an object with an 'op'", ptr)
    op = node["op"]
    builder = _BUILDERS.get(op)
    if builder is None:
        raise ExprCompileError(f"unknown expression op {op!r}", ptr)
    try:
        return builder(node, ptr)
    except KeyError as exc:
        raise ExprCompileError(f"{op!r} expression lacks field {exc}", ptr) from None


# ---------------------------------------------------------------- leaves


def _lit(node: dict[str, Any], ptr: str) -> Compiled:
    value = node["value"]
    if value is not None and not isinstance(value, bool | int | float | str):
        raise ExprCompileError("a literal must be null, a boolean, a number or a string", ptr)
    return lambda scope: value


def _name(node: dict[str, Any], ptr: str) -> Compiled:
    name = node["name"]
    if name not in ROOT_NAMES:
        raise ExprCompileError(f"unknown root name {name!r}", ptr)

    def get(scope: Scope) -> Any:
        try:
            return scope[name]
        except KeyError:
            raise ExprError(f"'{name}' is not available here", ptr) from None

    return get


def _field(node: dict[str, Any], ptr: str) -> Compiled:
    target_node = node["target"]
    name: str = node["name"]
    if (
        isinstance(target_node, dict)
        and target_node.get("op") == "name"
        and target_node.get("name") in ROOT_NAMES
    ):
        return _root_field(target_node["name"], name, ptr)
    target = _compile(target_node, pointer_join(ptr, "target"))

    def get(scope: Scope) -> Any:
        obj = target(scope)
        if isinstance(obj, dict):
            try:
                return obj[name]
            except KeyError:
                raise ExprError(f"no field '{name}'", ptr) from None
        raise ExprError(f"cannot read field '{name}' of a {type_name(obj)}", ptr)

    return get


def _root_field(root_name: str, name: str, ptr: str) -> Compiled:
    """`data.count`, `event.id`: a field of a root name, read by one closure."""
    root_ptr = pointer_join(ptr, "target")

    def get(scope: Scope) -> Any:
        try:
            obj = scope[root_name]
        except KeyError:
            raise ExprError(f"'{root_name}' is not available here", root_ptr) from None
        if isinstance(obj, dict):
            try:
                return obj[name]
            except KeyError:
                raise ExprError(f"no field '{name}'", ptr) from None
        raise ExprError(f"cannot read field '{name}' of a {type_name(obj)}", ptr)

    return get


def _index(node: dict[str, Any], ptr: str) -> Compiled:
    target = _compile(node["target"], pointer_join(ptr, "target"))
    index = _compile(node["index"], pointer_join(ptr, "index"))

    def get(scope: Scope) -> Any:
        obj = target(scope)
        at = index(scope)
        if isinstance(obj, list):
            if isinstance(at, bool) or not isinstance(at, int):
                raise ExprError(f"a list index must be an int, not a {type_name(at)}", ptr)
            if not 0 <= at < len(obj):
                raise ExprError(f"index {at} out of range (size {len(obj)})", ptr)
            return obj[at]
        if isinstance(obj, dict):
            if not isinstance(at, str):
                raise ExprError(f"a map key must be a string, not a {type_name(at)}", ptr)
            try:
                return obj[at]
            except KeyError:
                raise ExprError(f"no key {at!r}", ptr) from None
        raise ExprError(f"cannot index a {type_name(obj)}", ptr)

    return get


def _list(node: dict[str, Any], ptr: str) -> Compiled:
    items = [_compile(n, pointer_join(ptr, "items", i)) for i, n in enumerate(node["items"])]
    return lambda scope: [item(scope) for item in items]


def _map(node: dict[str, Any], ptr: str) -> Compiled:
    entries = [
        (str(e["key"]), _compile(e["value"], pointer_join(ptr, "entries", i, "value")))
        for i, e in enumerate(node["entries"])
    ]
    return lambda scope: {k: v(scope) for k, v in entries}


def _template(node: dict[str, Any], ptr: str) -> Compiled:
    parts: list[str | Compiled] = []
    for i, part in enumerate(node["parts"]):
        parts.append(
            part if isinstance(part, str) else _compile(part, pointer_join(ptr, "parts", i))
        )

    def render(scope: Scope) -> str:
        return "".join(p if isinstance(p, str) else to_text(p(scope)) for p in parts)

    return render


# ---------------------------------------------------------------- operators


def _is_num(v: Any) -> bool:
    return isinstance(v, _PLAIN_NUMBERS) and not isinstance(v, bool)


_PLAIN_NUMBERS = (int, float)
"""Exact types checked first: `type(True)` is `bool`, so no bool passes."""
_ORDERED = (str, bool, Timestamp, Duration)
_SIZED = (str, list, dict)


def _unary(node: dict[str, Any], ptr: str) -> Compiled:
    operator = node["operator"]
    operand = _compile(node["operand"], pointer_join(ptr, "operand"))
    if operator == "!":

        def negate(scope: Scope) -> Any:
            v = operand(scope)
            if not isinstance(v, bool):
                raise ExprError(f"'!' needs a bool, not a {type_name(v)}", ptr)
            return not v

        return negate
    if operator == "-":

        def minus(scope: Scope) -> Any:
            v = operand(scope)
            if _is_num(v):
                return -v
            if isinstance(v, Duration):
                return Duration(-v.ms)
            raise ExprError(f"'-' needs a number or duration, not a {type_name(v)}", ptr)

        return minus
    raise ExprCompileError(f"unknown unary operator {operator!r}", ptr)


def _logic(operator: str, left: Compiled, right: Compiled, ptr: str) -> Compiled:
    short = operator == "||"

    def run(scope: Scope) -> Any:
        lv = left(scope)
        if not isinstance(lv, bool):
            raise ExprError(f"'{operator}' needs bools, not a {type_name(lv)}", ptr)
        if lv is short:
            return short
        rv = right(scope)
        if not isinstance(rv, bool):
            raise ExprError(f"'{operator}' needs bools, not a {type_name(rv)}", ptr)
        return rv

    return run


def _add(a: Any, b: Any) -> Any:
    if type(a) in _PLAIN_NUMBERS and type(b) in _PLAIN_NUMBERS:
        return a + b
    if _is_num(a) and _is_num(b):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    if isinstance(a, Timestamp) and isinstance(b, Duration):
        return Timestamp(a.ms + b.ms)
    if isinstance(a, Duration) and isinstance(b, Timestamp):
        return Timestamp(a.ms + b.ms)
    if isinstance(a, Duration) and isinstance(b, Duration):
        return Duration(a.ms + b.ms)
    return NotImplemented


def _sub(a: Any, b: Any) -> Any:
    if type(a) in _PLAIN_NUMBERS and type(b) in _PLAIN_NUMBERS:
        return a - b
    if _is_num(a) and _is_num(b):
        return a - b
    if isinstance(a, Timestamp) and isinstance(b, Duration):
        return Timestamp(a.ms - b.ms)
    if isinstance(a, Timestamp) and isinstance(b, Timestamp):
        return Duration(a.ms - b.ms)
    if isinstance(a, Duration) and isinstance(b, Duration):
        return Duration(a.ms - b.ms)
    return NotImplemented


def _mul(a: Any, b: Any) -> Any:
    if _is_num(a) and _is_num(b):
        return a * b
    return NotImplemented


def _div(a: Any, b: Any) -> Any:
    if not (_is_num(a) and _is_num(b)):
        return NotImplemented
    if b == 0:
        raise ZeroDivisionError
    if isinstance(a, int) and isinstance(b, int):
        quotient = abs(a) // abs(b)
        return quotient if (a < 0) == (b < 0) else -quotient
    return a / b


def _mod(a: Any, b: Any) -> Any:
    if not (_is_num(a) and _is_num(b)):
        return NotImplemented
    if b == 0:
        raise ZeroDivisionError
    if isinstance(a, int) and isinstance(b, int):
        # CEL: the remainder takes the sign of the dividend (truncated division).
        return a - b * int(_div(a, b))
    return math.fmod(a, b)


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _sub,
    "*": _mul,
    "/": _div,
    "%": _mod,
}

_INT_ARITHMETIC: dict[str, Callable[[int, int], int]] = {
    "+": add,
    "-": sub,
    "*": mul,
}
"""The operators whose int-and-int case `_ARITHMETIC` leaves to Python, taken directly."""


def _ordered(a: Any, b: Any) -> bool:
    if _is_num(a) and _is_num(b):
        return True
    return type(a) is type(b) and isinstance(a, _ORDERED)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _binary(node: dict[str, Any], ptr: str) -> Compiled:
    operator = node["operator"]
    left = _compile(node["left"], pointer_join(ptr, "left"))
    right = _compile(node["right"], pointer_join(ptr, "right"))
    if operator in ("&&", "||"):
        return _logic(operator, left, right, ptr)
    if operator in ("==", "!="):
        negate = operator == "!="
        return lambda scope: equal(left(scope), right(scope)) is not negate
    if operator in _COMPARE:
        compare = _COMPARE[operator]

        def ordered(scope: Scope) -> Any:
            a, b = left(scope), right(scope)
            if not _ordered(a, b):
                raise ExprError(
                    f"cannot compare a {type_name(a)} with a {type_name(b)} using '{operator}'",
                    ptr,
                )
            return compare(a, b)

        return ordered
    if operator == "in":

        def member(scope: Scope) -> Any:
            needle, hay = left(scope), right(scope)
            if isinstance(hay, list):
                return any(equal(needle, x) for x in hay)
            if isinstance(hay, dict):
                return isinstance(needle, str) and needle in hay
            raise ExprError(f"'in' needs a list or a map, not a {type_name(hay)}", ptr)

        return member
    if operator in _ARITHMETIC:
        arith = _ARITHMETIC[operator]
        int_arith = _INT_ARITHMETIC.get(operator)

        def compute(scope: Scope) -> Any:
            a, b = left(scope), right(scope)
            if int_arith is not None and type(a) is int and type(b) is int:
                result = int_arith(a, b)
            else:
                try:
                    result = arith(a, b)
                except ZeroDivisionError:
                    raise ExprError("division by zero", ptr) from None
                if result is NotImplemented:
                    raise ExprError(
                        f"'{operator}' does not apply to a {type_name(a)} and a {type_name(b)}",
                        ptr,
                    )
                if isinstance(result, float) and not math.isfinite(result):
                    raise ExprError(f"'{operator}' overflowed", ptr)
            if type(result) is int and not -INT_LIMIT < result < INT_LIMIT:
                raise ExprError(
                    f"'{operator}' gave an integer too large to store "
                    f"(integers must be below 2**{MAX_INT_BITS})",
                    ptr,
                )
            return result

        return compute
    raise ExprCompileError(f"unknown binary operator {operator!r}", ptr)


def _cond(node: dict[str, Any], ptr: str) -> Compiled:
    condition = _compile(node["condition"], pointer_join(ptr, "condition"))
    then = _compile(node["then"], pointer_join(ptr, "then"))
    otherwise = _compile(node["otherwise"], pointer_join(ptr, "otherwise"))

    def choose(scope: Scope) -> Any:
        c = condition(scope)
        if not isinstance(c, bool):
            raise ExprError(f"a condition must be a bool, not a {type_name(c)}", ptr)
        return then(scope) if c else otherwise(scope)

    return choose


# ---------------------------------------------------------------- functions


def _size(v: Any, ptr: str) -> Any:
    if isinstance(v, _SIZED):
        return len(v)
    raise ExprError(f"size() needs a string, list or map, not a {type_name(v)}", ptr)


def _string(v: Any, ptr: str) -> Any:
    return to_text(v)


def _int(v: Any, ptr: str) -> Any:
    if isinstance(v, bool):
        raise ExprError("int() does not take a bool", ptr)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ExprError(f"int() cannot convert {v}", ptr)
        return int(v)
    if isinstance(v, str):
        digits = v.strip()
        if len(digits.lstrip("+-")) > MAX_INT_DIGITS:
            raise ExprError(
                f"int() cannot parse {len(digits)} digits (at most {MAX_INT_DIGITS})", ptr
            )
        try:
            return int(digits)
        except ValueError:
            raise ExprError(f"int() cannot parse {v!r}", ptr) from None
    if isinstance(v, Timestamp):
        return v.ms // 1000
    raise ExprError(f"int() does not take a {type_name(v)}", ptr)


def _double(v: Any, ptr: str) -> Any:
    if _is_num(v):
        return float(v)
    if isinstance(v, str):
        try:
            result = float(v.strip())
        except ValueError:
            raise ExprError(f"double() cannot parse {v!r}", ptr) from None
        if not math.isfinite(result):
            raise ExprError(f"double() cannot parse {v!r}", ptr)
        return result
    raise ExprError(f"double() does not take a {type_name(v)}", ptr)


def _timestamp(v: Any, ptr: str) -> Any:
    if isinstance(v, Timestamp):
        return v
    if isinstance(v, str):
        return parse_timestamp(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return Timestamp(v * 1000)
    raise ExprError(f"timestamp() needs an RFC 3339 string, not a {type_name(v)}", ptr)


def _duration(v: Any, ptr: str) -> Any:
    if isinstance(v, Duration):
        return v
    if isinstance(v, str):
        return parse_duration(v)
    raise ExprError(f"duration() needs a string like '30s', not a {type_name(v)}", ptr)


def _matches(text: Any, pattern: Any, ptr: str) -> Any:
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise ExprError(
            f"matches() needs two strings, not a {type_name(text)} and a {type_name(pattern)}",
            ptr,
        )
    try:
        return regex.search(pattern, text)
    except regex.RegexError as exc:
        raise ExprError(f"bad regular expression {pattern!r}: {exc}", ptr) from None


_UNARY_FUNCTIONS: dict[str, Callable[[Any, str], Any]] = {
    "size": _size,
    "string": _string,
    "int": _int,
    "double": _double,
    "timestamp": _timestamp,
    "duration": _duration,
}


def _call(node: dict[str, Any], ptr: str) -> Compiled:
    function = node["function"]
    raw_args = node["args"]
    if function not in FUNCTIONS:
        raise ExprCompileError(f"unknown function {function!r}", ptr)
    expected = 2 if function == "matches" else 1
    if len(raw_args) != expected:
        raise ExprCompileError(f"{function}() takes {expected} argument(s)", ptr)
    if function == "has":
        return _has(raw_args[0], pointer_join(ptr, "args", 0))
    args = [_compile(a, pointer_join(ptr, "args", i)) for i, a in enumerate(raw_args)]
    if function == "matches":
        text, pattern = args
        return lambda scope: _matches(text(scope), pattern(scope), ptr)
    (arg,) = args
    fn = _UNARY_FUNCTIONS[function]
    return lambda scope: fn(arg(scope), ptr)


def _has(node: Any, ptr: str) -> Compiled:
    if not isinstance(node, dict) or node.get("op") != "field":
        raise ExprCompileError("has() takes a field selection like has(event.x)", ptr)
    target = _compile(node["target"], pointer_join(ptr, "target"))
    name = node["name"]

    def check(scope: Scope) -> Any:
        obj = target(scope)
        return isinstance(obj, dict) and name in obj

    return check


_BUILDERS: dict[str, Callable[[dict[str, Any], str], Compiled]] = {
    "lit": _lit,
    "name": _name,
    "field": _field,
    "index": _index,
    "unary": _unary,
    "binary": _binary,
    "cond": _cond,
    "call": _call,
    "list": _list,
    "map": _map,
    "template": _template,
}
