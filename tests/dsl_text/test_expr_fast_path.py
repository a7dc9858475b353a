"""The lark-free parser of common expressions agrees with the lark path, node and span."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dsl_text.test_expr_roundtrip import plain_exprs
from flowyard.dsl import ast
from flowyard.dsl.dsl_lark import Origin, parse_tree
from flowyard.dsl.expr_fast_path import parse_common_expression
from flowyard.dsl.expr_printer import format_expr
from flowyard.dsl.expressions import ExprBuilder, parse_expression
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = Origin("f.flow.yaml", 12, 9)


def by_lark(text: str) -> ast.Expr | None:
    tree = parse_tree(text, "expression", ORIGIN, "FY005")
    builder = ExprBuilder(ORIGIN)
    expr = builder.build(tree)
    return None if builder.diagnostics else expr


def nodes(expr: object) -> Iterator[tuple[str, object]]:
    """Every node with its span, in order: what equality of the AST leaves out."""
    if isinstance(expr, tuple | list):
        for item in expr:
            yield from nodes(item)
        return
    if not dataclasses.is_dataclass(expr) or isinstance(expr, ast.Span):
        return
    yield type(expr).__name__, getattr(expr, "span", None)
    for field in dataclasses.fields(expr):
        yield from nodes(getattr(expr, field.name))


def agree(text: str) -> bool:
    """True when the fast path took the text (and agreed); False when it gave it to lark."""
    fast = parse_common_expression(text, ORIGIN)
    if fast is None:
        return False
    slow = by_lark(text)
    assert slow == fast, text
    assert list(nodes(slow)) == list(nodes(fast)), text
    return True


COMMON = [
    "event.amount >= data.total && data.total > 1000",
    "a ? b : c ? d : e",
    "(a + b) * c",
    "-(1)",
    "-1",
    "- 1.5e3",
    "--1",
    "!a.b[0].c(1, 'x',)",
    "size(event.items) > 0",
    "{a: 1, 'b c': [1, 2,], }",
    "x in ['a', \"b\"]",
    "a.b(\n  c,\n  d\n) == null",
    "a\n  || b\n  && !c",
    "[]",
    "{}",
    "f()",
    "true != false",
    "event.in_stock",
]
LARK_ONLY = [
    "`a ${b}`",  # a template
    "'a\\nb'",  # an escape
    "a # comment",
    "event.in",  # a keyword as a field name
    "a +",  # syntax errors stay lark's
    "1.e5",
    "99999999999999999999",  # FY104
    "(" * 80 + "a" + ")" * 80,
]


@pytest.mark.parametrize("text", COMMON)
def test_common_expressions_take_the_fast_path(text: str) -> None:
    assert agree(text)


@pytest.mark.parametrize("text", LARK_ONLY)
def test_everything_else_is_left_to_lark(text: str) -> None:
    assert parse_common_expression(text, ORIGIN) is None


def test_every_expression_of_the_examples_and_golden_cases_agrees() -> None:
    pattern = re.compile(r"(?:when|key|time): (.+)$|\$\{ (.+?) \}", re.MULTILINE)
    texts = set()
    for folder in (ROOT / "examples", ROOT / "tests" / "golden" / "cases"):
        for path in [*folder.glob("*.flow.yaml"), *folder.glob("*.flow")]:
            for m in pattern.finditer(path.read_text(encoding="utf-8", errors="replace")):
                texts.add((m.group(1) or m.group(2)).strip().strip("\"'"))
    taken = [text for text in sorted(texts) if agree(text)]
    assert len(taken) > len(texts) / 2


@settings(max_examples=400, deadline=None)
@given(plain_exprs, st.sampled_from([" ", "", "\n  "]))
def test_printed_expressions_agree(expr: ast.Expr, spacing: str) -> None:
    text = format_expr(expr)
    if spacing:
        text = re.sub(r"(&&|\|\||==|,|\?)", lambda m: f"{spacing}{m.group(1)}{spacing}", text)
    agree(text)


def test_parse_expression_uses_it() -> None:
    expr, diagnostics = parse_expression("a.b > 1", file="f", line=3, column=5)
    assert diagnostics == [] and isinstance(expr, ast.Binary)
    assert (expr.span.line, expr.span.column, expr.span.end_column) == (3, 5, 12)
