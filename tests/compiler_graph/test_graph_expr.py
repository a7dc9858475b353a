"""The IR-expression printer: CEL text with parentheses only where precedence needs them."""

from __future__ import annotations

from typing import Any

import pytest
from flowyard.compiler.graph_expr import expr_to_text


def name(n: str) -> dict[str, Any]:
    return {"op": "name", "name": n}


def lit(value: Any) -> dict[str, Any]:
    return {"op": "lit", "value": value}


def field(target: dict[str, Any], n: str) -> dict[str, Any]:
    return {"op": "field", "target": target, "name": n}


def binary(op: str, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {"op": "binary", "operator": op, "left": left, "right": right}


def unary(op: str, operand: dict[str, Any]) -> dict[str, Any]:
    return {"op": "unary", "operator": op, "operand": operand}


def cond(c: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {"op": "cond", "condition": c, "then": a, "otherwise": b}


A, B, C = name("a"), name("b"), name("c")


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (lit(None), "null"),
        (lit(True), "true"),
        (lit(False), "false"),
        (lit(1000), "1000"),
        (lit(1.0), "1.0"),
        (lit(2.5), "2.5"),
        (lit("it's"), "'it\\'s'"),
        (lit("a\\b\nc"), "'a\\\\b\\nc'"),
        (field(field(name("event"), "order"), "id"), "event.order.id"),
        (field(name("event"), "content-type"), "event['content-type']"),
        ({"op": "index", "target": name("data"), "index": lit(0)}, "data[0]"),
        (binary("+", binary("+", A, B), C), "a + b + c"),
        (binary("-", A, binary("-", B, C)), "a - (b - c)"),
        (binary("*", binary("+", A, B), C), "(a + b) * c"),
        (binary("+", A, binary("*", B, C)), "a + b * c"),
        (binary("&&", A, binary("&&", B, C)), "a && b && c"),
        (binary("||", binary("&&", A, B), C), "a && b || c"),
        (binary("&&", binary("||", A, B), C), "(a || b) && c"),
        (binary("in", A, {"op": "list", "items": [lit(1), lit(2)]}), "a in [1, 2]"),
        (binary("==", binary("<", A, B), lit(True)), "a < b == true"),
        (binary("<", A, binary("<", B, C)), "a < (b < c)"),
        (unary("!", binary("==", A, B)), "!(a == b)"),
        (unary("!", unary("!", A)), "!!a"),
        (unary("!", unary("-", A)), "!(-a)"),
        (unary("-", lit(-1)), "-(-1)"),
        (binary("-", A, lit(-1)), "a - -1"),
        (field(lit(-1), "x"), "(-1).x"),
        (field(binary("+", A, B), "x"), "(a + b).x"),
        (cond(A, B, C), "a ? b : c"),
        (cond(cond(A, B, C), B, C), "(a ? b : c) ? b : c"),
        (cond(A, cond(A, B, C), C), "a ? (a ? b : c) : c"),
        (cond(A, B, cond(A, B, C)), "a ? b : a ? b : c"),
        (binary("+", cond(A, B, C), lit(1)), "(a ? b : c) + 1"),
        (
            {"op": "call", "function": "has", "args": [field(name("event"), "x")]},
            "has(event.x)",
        ),
        (
            {
                "op": "call",
                "function": "duration",
                "args": [lit("720h")],
            },
            "duration('720h')",
        ),
        (
            {"op": "map", "entries": [{"key": "order_id", "value": name("key")}]},
            "{'order_id': key}",
        ),
        (
            {"op": "template", "parts": ["order ", field(name("event"), "id"), ' "done"']},
            '"order ${ event.id } \\"done\\""',
        ),
    ],
)
def test_expression_text(expr: dict[str, Any], text: str) -> None:
    assert expr_to_text(expr) == text


def test_unknown_op_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown expression op"):
        expr_to_text({"op": "lambda"})
