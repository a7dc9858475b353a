"""Expression semantics: CEL-like arithmetic, logic, functions, time, and errors with pointers."""

from __future__ import annotations

from typing import Any

import pytest
from core_helpers import binop, fn, lit, mapping, path
from flowyard.interpreter.expr import ExprCompileError, ExprError, compile_expr
from flowyard.interpreter.expr_values import (
    Duration,
    Timestamp,
    format_duration,
    format_timestamp,
    parse_duration,
    parse_timestamp,
    to_json_value,
    to_text,
)

SCOPE: dict[str, Any] = {
    "event": {"total": 1200, "amount": 1200.5, "items": [1, 2, 3], "name": "ann", "flag": True},
    "data": {"total": 0, "tags": {"a": 1}, "none": None},
    "key": "o-1",
    "now": Timestamp(1_700_000_000_000),
    "env": {"BASE": "http://x"},
}


def ev(node: dict[str, Any], scope: dict[str, Any] | None = None) -> Any:
    return compile_expr(node, "/p")(SCOPE if scope is None else scope)


def err(node: dict[str, Any]) -> ExprError:
    with pytest.raises(ExprError) as info:
        ev(node)
    return info.value


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (binop("+", 1, 2), 3),
        (binop("+", 1, 2.5), 3.5),
        (binop("-", 1, 3), -2),
        (binop("*", 3, 4), 12),
        (binop("/", 7, 2), 3),
        (binop("/", -7, 2), -3),
        (binop("/", 7.0, 2), 3.5),
        (binop("%", 7, 3), 1),
        (binop("%", -7, 3), -1),
        (binop("+", "a", "b"), "ab"),
        (binop("+", {"op": "list", "items": [lit(1)]}, {"op": "list", "items": [lit(2)]}), [1, 2]),
        (binop("==", 1, 1.0), True),
        (binop("==", True, 1), False),
        (binop("!=", "a", "b"), True),
        (binop("<", 1, 1.5), True),
        (binop(">=", "b", "a"), True),
        (binop("in", 2, path("event.items")), True),
        (binop("in", "a", path("data.tags")), True),
        (binop("in", "z", path("data.tags")), False),
        (binop("&&", True, False), False),
        (binop("||", False, True), True),
        (binop(">=", path("event.amount"), path("event.total")), True),
        ({"op": "unary", "operator": "!", "operand": lit(False)}, True),
        ({"op": "unary", "operator": "-", "operand": lit(2)}, -2),
        ({"op": "cond", "condition": lit(True), "then": lit(1), "otherwise": lit(2)}, 1),
        ({"op": "index", "target": path("event.items"), "index": lit(1)}, 2),
        ({"op": "index", "target": path("data.tags"), "index": lit("a")}, 1),
        (mapping(a=1, b=path("key")), {"a": 1, "b": "o-1"}),
        (
            {"op": "template", "parts": ["id=", path("key"), " n=", lit(2), " ", lit(True)]},
            "id=o-1 n=2 true",
        ),
        (fn("size", "héllo"), 5),
        (fn("size", path("event.items")), 3),
        (fn("has", path("event.total")), True),
        (fn("has", path("event.nope")), False),
        (fn("has", path("data.none.x")), False),
        (fn("string", 12), "12"),
        (fn("string", 1.5), "1.5"),
        (fn("int", "42"), 42),
        (fn("int", 3.9), 3),
        (fn("double", 2), 2.0),
        (fn("matches", "order-17", "^order-[0-9]+$"), True),
        (fn("matches", "x", "y"), False),
    ],
)
def test_values(node: dict[str, Any], expected: Any) -> None:
    got = ev(node)
    assert got == expected
    assert type(got) is type(expected)


def test_short_circuit_skips_the_failing_side() -> None:
    boom = path("data.missing")
    assert ev(binop("&&", False, boom)) is False
    assert ev(binop("||", True, boom)) is True
    assert ev({"op": "cond", "condition": lit(False), "then": boom, "otherwise": lit(0)}) == 0


def test_timestamps_and_durations() -> None:
    ts = fn("timestamp", "2026-01-31T10:00:00Z")
    assert ev(ts) == Timestamp(1_769_853_600_000)
    later = binop("+", ts, fn("duration", "720h"))
    assert ev(fn("string", later)) == "2026-03-02T10:00:00Z"
    assert ev(binop("-", ts, fn("duration", "PT30M"))) == Timestamp(1_769_851_800_000)
    assert ev(binop("-", later, ts)) == Duration(720 * 3_600_000)
    assert ev(binop("<", ts, later)) is True
    assert ev(binop(">", path("now"), ts)) is False
    assert ev(fn("string", fn("timestamp", "2026-01-01T01:00:00.250+01:00"))) == (
        "2026-01-01T00:00:00.250Z"
    )


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("1h30m", 5_400_000),
        ("1.5s", 1500),
        ("PT30M", 1_800_000),
        ("P1DT2H", 93_600_000),
        ("PT0.5S", 500),
        ("P2W", 14 * 86_400_000),
        ("-5s", -5000),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == Duration(ms)


@pytest.mark.parametrize("text", ["", "5", "5x", "P", "PT", "1y", "P1M"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ExprError, match="not a duration"):
        ev(fn("duration", text))


@pytest.mark.parametrize("text", ["2026-01-01", "2026-01-01T00:00:00", "yesterday"])
def test_bad_timestamps(text: str) -> None:
    with pytest.raises(ExprError):
        ev(fn("timestamp", text))


def test_formatting_round_trips() -> None:
    for ms in (0, 1, 999, 1_700_000_000_123, -86_400_000):
        assert parse_timestamp(format_timestamp(Timestamp(ms))) == Timestamp(ms)
    assert format_duration(Duration(90_000)) == "90s"
    assert format_duration(Duration(1500)) == "1.5s"
    assert format_duration(Duration(-250)) == "-0.25s"
    assert to_text(Duration(1500)) == "1.5s"
    assert to_json_value({"t": Timestamp(0), "d": [Duration(1000)]}) == {
        "t": "1970-01-01T00:00:00Z",
        "d": ["1s"],
    }


@pytest.mark.parametrize(
    ("node", "message", "pointer"),
    [
        (path("data.missing"), "no field 'missing'", "/p"),
        (path("data.none.x"), "cannot read field 'x' of a null", "/p"),
        (binop("/", 1, 0), "division by zero", "/p"),
        (binop("%", 1, 0), "division by zero", "/p"),
        (binop("+", 1, "a"), "'+' does not apply to a int and a string", "/p"),
        (binop("<", 1, "a"), "cannot compare", "/p"),
        (binop("&&", 1, True), "needs bools", "/p"),
        (binop("+", 1, path("data.missing")), "no field", "/p/right"),
        ({"op": "index", "target": path("event.items"), "index": lit(9)}, "out of range", "/p"),
        ({"op": "name", "name": "item"}, "'item' is not available here", "/p"),
        (path("item.x"), "'item' is not available here", "/p/target"),
        (path("key.x"), "cannot read field 'x' of a string", "/p"),
        (path("item.x.y"), "'item' is not available here", "/p/target/target"),
        (fn("size", 3), "size() needs", "/p"),
        (fn("int", "x1"), "cannot parse", "/p"),
        (fn("matches", "a", "("), "bad regular expression", "/p"),
        (
            {"op": "cond", "condition": lit(1), "then": lit(1), "otherwise": lit(2)},
            "must be a bool",
            "/p",
        ),
    ],
)
def test_runtime_errors_carry_the_pointer(node: dict[str, Any], message: str, pointer: str) -> None:
    error = err(node)
    assert message in error.message
    assert error.pointer == pointer


@pytest.mark.parametrize(
    "node",
    [
        {"op": "nope"},
        {"op": "name", "name": "os"},
        {"op": "call", "function": "eval", "args": [lit("1")]},
        {"op": "call", "function": "has", "args": [lit(1)]},
        {"op": "call", "function": "size", "args": []},
        {"op": "binary", "operator": "**", "left": lit(1), "right": lit(2)},
        {"op": "lit", "value": [1]},
        {"op": "field", "name": "x"},
        {"op": "field", "target": {"op": "name", "name": "os"}, "name": "x"},
        {"op": "field", "target": {"op": "name"}, "name": "x"},
        "event",
    ],
)
def test_malformed_ir_is_rejected_at_compile_time(node: Any) -> None:
    with pytest.raises(ExprCompileError):
        compile_expr(node, "/q")
