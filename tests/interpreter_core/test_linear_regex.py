"""Patterns match in linear time (RE2): a hostile input cannot hold the process.

With Python's backtracking `re`, `^(a+)+$` against 5,000 `a`s and a `!`
would take longer than the age of the universe; these tests would hit the
per-test timeout long before failing an assertion.
"""

from __future__ import annotations

import pytest
from core_helpers import binop, fn, lit
from flowyard.interpreter.expr import ExprError, compile_expr
from flowyard.interpreter.program import quick, schema_errors, validator
from flowyard.interpreter.storable import MAX_INT_BITS

HOSTILE = "a" * 5000 + "!"
NESTED = "^(a+)+$"

pytestmark = pytest.mark.timeout(20)


def test_matches_is_linear_on_a_nested_quantifier() -> None:
    assert compile_expr(fn("matches", HOSTILE, NESTED), "/p")({}) is False
    assert compile_expr(fn("matches", "aaa", NESTED), "/p")({}) is True


def test_matches_refuses_what_re2_cannot_run() -> None:
    with pytest.raises(ExprError, match=r"bad regular expression .*RE2"):
        compile_expr(fn("matches", "aa", "(a)\\1"), "/p")({})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": NESTED},
        {"type": "object", "patternProperties": {NESTED: {"type": "integer"}}},
        {
            "type": "object",
            "patternProperties": {NESTED: {"type": "integer"}},
            "additionalProperties": False,
        },
    ],
)
def test_schema_patterns_are_linear(schema: dict[str, object]) -> None:
    value: object = HOSTILE if schema["type"] == "string" else {HOSTILE: 1}
    problems = schema_errors(validator(schema), value, quick(schema))
    assert bool(problems) is (schema.get("additionalProperties") is False or "pattern" in schema)


def test_schema_patterns_still_check() -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "string", "pattern": "^o-[0-9]+$"}},
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": False,
    }
    check = validator(schema)
    assert schema_errors(check, {"id": "o-1", "x-a": 1}) == []
    problems = schema_errors(check, {"id": "p-1", "x-a": "1", "y": 0})
    assert any("does not match" in p for p in problems)
    assert any("is not of type 'integer'" in p for p in problems)
    assert any("'y' does not match any of the regexes" in p for p in problems)


def test_an_integer_too_large_to_store_is_an_expression_error() -> None:
    big = 1 << (MAX_INT_BITS // 2 + 1)
    with pytest.raises(ExprError, match="too large to store"):
        compile_expr(binop("*", lit(big), lit(big)), "/p")({})
    assert compile_expr(binop("*", lit(3), lit(4)), "/p")({}) == 12
