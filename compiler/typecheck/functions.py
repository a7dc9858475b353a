"""The built-in functions: their arities, argument types and result types.

`has` is not here: its argument is a field *expression*, which the inferencer
checks itself (without warning that the field may be absent: that is the point).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ...dsl.ast import Expr, Literal
from ...dsl.durations import parse_duration
from ..regex import RE2_HINT, regex_problem
from .render import render
from .types import (
    BOOL,
    DOUBLE,
    DURATION,
    DYN,
    INT,
    STRING,
    TIMESTAMP,
    ListType,
    MapType,
    ObjectType,
    Type,
    category,
    describe,
)

FUNCTIONS = ("size", "has", "string", "int", "double", "timestamp", "duration", "matches")


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a call, reported by the inferencer at `at`'s span."""

    code: str
    message: str
    hint: str
    at: Expr | None = None


@dataclass(frozen=True, slots=True)
class _Signature:
    params: tuple[tuple[str, ...], ...]  # accepted categories per parameter
    result: Type
    usage: str


_ANY = ("number", "string", "boolean", "null", "list", "map", "timestamp", "duration")

_SIGNATURES: dict[str, _Signature] = {
    "size": _Signature((("string", "list", "map"),), INT, "size(string | list | map) -> int"),
    "string": _Signature((_ANY,), STRING, "string(value) -> string"),
    "int": _Signature((("number", "string", "timestamp"),), INT, "int(number | string) -> int"),
    "double": _Signature((("number", "string"),), DOUBLE, "double(number | string) -> double"),
    "timestamp": _Signature(
        (("string", "timestamp"),), TIMESTAMP, "timestamp(string) -> timestamp"
    ),
    "duration": _Signature((("string", "duration"),), DURATION, "duration(string) -> duration"),
    "matches": _Signature((("string",), ("string",)), BOOL, "matches(string, pattern) -> bool"),
}


def check_call(function: str, args: list[tuple[Expr, Type]]) -> tuple[Type, list[Problem]]:
    """The result type of `function(args)` and what is wrong with the call."""
    sig = _SIGNATURES.get(function)
    if sig is None:
        return DYN, []
    if len(args) != len(sig.params):
        want = len(sig.params)
        return sig.result, [
            Problem(
                "FY404",
                f"{function}() takes {want} argument{'s' if want != 1 else ''}, "
                f"but {len(args)} {'was' if len(args) == 1 else 'were'} given",
                f"call it as {sig.usage}",
            )
        ]
    problems: list[Problem] = []
    for (expr, t), accepted in zip(args, sig.params, strict=True):
        if t != DYN and category(t) not in accepted:
            problems.append(
                Problem(
                    "FY404",
                    f"{function}() cannot take {describe(t)}: {render(expr)} is {describe(t)}",
                    f"call it as {sig.usage}",
                    expr,
                )
            )
    if not problems:
        problems.extend(_check_literals(function, args))
    return sig.result, problems


def _check_literals(function: str, args: list[tuple[Expr, Type]]) -> list[Problem]:
    """Literal arguments can be checked now rather than failing at run time."""
    literals = [(e, e.value) for e, _ in args if isinstance(e, Literal)]
    out: list[Problem] = []
    for expr, value in literals:
        if not isinstance(value, str):
            continue
        if function == "duration" and parse_duration(value) is None:
            out.append(
                Problem(
                    "FY501",
                    f"'{value}' is not a duration",
                    "write a duration like '500ms', '30s', '5m', '2h', '1d' or 'PT30M'",
                    expr,
                )
            )
        elif function == "timestamp" and not _is_timestamp(value):
            out.append(
                Problem(
                    "FY404",
                    f"'{value}' is not an RFC 3339 timestamp",
                    "write a timestamp like '2026-01-31T12:00:00Z'",
                    expr,
                )
            )
    if function == "matches" and len(args) == 2:
        pattern = args[1][0]
        if isinstance(pattern, Literal) and isinstance(pattern.value, str):
            reason = regex_problem(pattern.value)
            if reason is not None:
                out.append(
                    Problem(
                        "FY405",
                        f"invalid regular expression {render(pattern)}: {reason}",
                        RE2_HINT,
                        pattern,
                    )
                )
    return out


def _is_timestamp(text: str) -> bool:
    if "T" not in text.upper():
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def accepts_in(container: Type) -> bool:
    """Whether `x in container` is defined for this right-hand side."""
    return container == DYN or isinstance(container, ListType | MapType | ObjectType)
