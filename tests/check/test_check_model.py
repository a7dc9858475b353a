"""The checker's own pieces: its expression evaluator agrees with the interpreter's,
cells split where the constants say, and payloads fit their schemas."""

from __future__ import annotations

from typing import Any

import pytest
from flowyard.compiler.check.domains import build_domain, synthesize
from flowyard.compiler.check.evaluate import UNKNOWN, EvalError, Span, Stamp, evaluate
from flowyard.compiler.check.fits import misfit
from flowyard.compiler.lower_expr import lower_expr
from flowyard.dsl.expressions import parse_expression
from flowyard.interpreter.expr import ExprError, compile_expr
from flowyard.interpreter.expr_values import Duration, Timestamp

SCOPE: dict[str, Any] = {
    "data": {"total": 1500, "n": 3, "name": "ab", "flags": [1, 2], "m": {"a": 1}, "ok": True},
    "event": {"amount": 1499.5, "kind": "x", "at": "2026-01-02T00:00:00Z"},
    "key": "k-1",
}

EXPRESSIONS = [
    "event.amount >= data.total && data.total > 1000",
    "event.amount >= data.total || data.ok",
    "!data.ok",
    "-data.n + 7 * 2 - 10 / 3 % 2",
    "data.n / 2",
    "7.0 / 2",
    "-7 % 3",
    "data.name + '-' + key",
    "data.flags + [3]",
    "2 in data.flags",
    "'a' in data.m",
    "data.flags[1]",
    "data.m['a']",
    "data.n > 2 ? 'big' : 'small'",
    "size(data.name) == 2 && size(data.flags) == 2",
    "has(data.m.a) && !has(data.m.b)",
    "string(data.n) + string(true)",
    "int(2.7) == 2",
    "double(2) == 2.0",
    "1 == 1.0",
    "true == 1",
    "[1, 2] == [1, 2.0]",
    "{'a': 1} == {'a': 1}",
    "matches(data.name, '^a')",
    "timestamp(event.at) + duration('720h') > timestamp('2026-01-20T00:00:00Z')",
    "string(timestamp(event.at) + duration('1d'))",
    "timestamp(event.at) - timestamp('2026-01-01T00:00:00Z') == duration('24h')",
    "data.nothing",
    "data.n / 0",
    "data.name < 3",
    "data.flags[5]",
    "`${ data.n } of ${ data.total }`",
]


def _ir(text: str) -> dict[str, Any]:
    expr, diagnostics = parse_expression(text, file="t.flow")
    assert expr is not None, diagnostics
    return lower_expr(expr)


def _plain(value: Any) -> Any:
    if isinstance(value, Timestamp | Stamp):
        return ("timestamp", value.ms)
    if isinstance(value, Duration | Span):
        return ("duration", value.ms)
    return value


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_the_evaluator_agrees_with_the_interpreter(text: str) -> None:
    ir = _ir(text.replace("`", '"'))
    try:
        expected: Any = _plain(compile_expr(ir, "/e")(SCOPE))
    except ExprError:
        expected = "fails"
    try:
        got: Any = _plain(evaluate(ir, SCOPE))
    except EvalError:
        got = "fails"
    assert got == expected
    assert type(got) is type(expected)


def test_what_the_checker_cannot_know_is_unknown() -> None:
    assert evaluate(_ir("env.URL == 'x'"), SCOPE) is UNKNOWN
    assert evaluate(_ir("env.URL == 'x' || data.ok"), SCOPE) is True
    assert evaluate(_ir("env.URL == 'x' && !data.ok"), SCOPE) is False


def test_numbers_split_at_their_constants_and_bounds() -> None:
    domain = build_domain(("data", "total"), {"type": "number", "minimum": 0}, [1000, 0])
    assert [c.label for c in domain.cells] == ["0", "between 0 and 1000", "1000", "> 1000"]
    assert [domain.cell_of(v) for v in (0, 3.5, 1000, 10**9)] == [0, 1, 2, 3]
    integers = build_domain(("data", "n"), {"type": "integer"}, [0, 3, 4])
    assert [c.label for c in integers.cells] == ["< 0", "0", "between 0 and 3", "3", "4", "> 4"]


def test_strings_enums_booleans_and_lists_have_their_own_cells() -> None:
    text = build_domain(("data", "s"), {"type": "string"}, ["", "a"])
    assert [c.label for c in text.cells] == ["''", "'a'", "another string"]
    assert text.cell_of("zzz") == 2
    dates = build_domain(("input", "E", "at"), {"type": "string", "format": "date-time"}, [""])
    assert [c.label for c in dates.cells] == ["any string"]  # '' cannot be a date-time
    assert misfit(dates.cells[0].samples[0], {"type": "string"}) is None
    enum = build_domain(("data", "e"), {"enum": ["a", "b"]}, [])
    assert [c.label for c in enum.cells] == ["'a'", "'b'"]
    flag = build_domain(("data", "f"), {"type": "boolean"}, [])
    assert [c.samples for c in flag.cells] == [(False,), (True,)]
    items = build_domain(("data", "l"), {"type": "array"}, [], {"url": "x"})
    assert [c.samples for c in items.cells] == [([],), ([{"url": "x"}],)]


@pytest.mark.parametrize(
    ("value", "schema", "problem"),
    [
        (4, {"type": "integer", "maximum": 3}, "breaks maximum 3"),
        (-1, {"type": "integer", "minimum": 0}, "breaks minimum 0"),
        ("c", {"enum": ["a", "b"]}, "is not one of ['a', 'b']"),
        (1.5, {"type": "integer"}, "is not of type integer"),
        ("x", {"type": ["number", "null"]}, "is not of type number or null"),
        (None, {"type": ["number", "null"]}, None),
        ({"a": 1}, {"type": "object", "required": ["a", "b"]}, "lacks b"),
    ],
)
def test_misfit_says_why_a_value_breaks_a_schema(
    value: Any, schema: Any, problem: str | None
) -> None:
    assert misfit(value, schema) == problem


def test_synthesized_payloads_fit_their_schema() -> None:
    schema = {
        "type": "object",
        "required": ["id", "n", "tags", "at", "kind", "ok"],
        "properties": {
            "id": {"type": "string", "minLength": 3},
            "n": {"type": "integer", "exclusiveMinimum": 5},
            "tags": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "at": {"type": "string", "format": "date-time"},
            "kind": {"enum": ["a", "b"]},
            "ok": {"type": "boolean"},
        },
    }
    payload = synthesize(schema)
    assert payload == {
        "id": "xxx",
        "n": 6,
        "tags": ["x"],
        "at": "2026-01-02T00:00:00Z",
        "kind": "a",
        "ok": False,
    }
    for name, sub in schema["properties"].items():  # type: ignore[attr-defined]
        assert misfit(payload[name], sub) is None
