"""Property tests: printing an expression and parsing it back gives an equal AST."""

from __future__ import annotations

import itertools
from typing import get_args

from flowyard.dsl import ast
from flowyard.dsl.expr_printer import RESERVED, format_expr
from flowyard.dsl.expressions import parse_expression
from flowyard.dsl.templates import format_value_string, parse_value_string
from hypothesis import given, settings
from hypothesis import strategies as st

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
names = identifiers.filter(lambda n: n not in RESERVED)
texts = st.text(max_size=12)

literals = st.builds(
    ast.Literal,
    value=st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
)
leaves = literals | st.builds(ast.Name, name=names)


def _compound(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        st.builds(ast.Field, target=children, name=identifiers),
        st.builds(ast.Index, target=children, index=children),
        st.builds(ast.Unary, op=st.sampled_from(get_args(ast.UnaryOp)), operand=children),
        st.builds(
            ast.Binary,
            op=st.sampled_from(get_args(ast.BinaryOp)),
            left=children,
            right=children,
        ),
        st.builds(ast.Conditional, condition=children, then=children, otherwise=children),
        st.builds(ast.Call, function=names, args=st.lists(children, max_size=3).map(tuple)),
        st.builds(ast.ListLit, items=st.lists(children, max_size=3).map(tuple)),
        st.builds(ast.MapLit, entries=st.lists(st.tuples(texts, children), max_size=3).map(tuple)),
    )


plain_exprs = st.recursive(leaves, _compound, max_leaves=12)


def _normal_parts(parts: list[str | ast.Expr]) -> tuple[str | ast.Expr, ...]:
    """Template parts as the parser makes them: no empty text, adjacent text merged."""
    out: list[str | ast.Expr] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        elif part != "":
            out.append(part)
    return tuple(out)


templates = st.lists(st.one_of(texts, plain_exprs), max_size=4).map(
    lambda parts: ast.Template(parts=_normal_parts(parts))
)
# Templates may appear anywhere except inside another template's `${ }`.
exprs = st.recursive(leaves | templates, _compound, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(exprs)
def test_format_then_parse_is_identity(expr: ast.Expr) -> None:
    text = format_expr(expr)
    parsed, diagnostics = parse_expression(text, file="f")
    assert diagnostics == [], text
    assert parsed == expr, text


def _yaml_template_ok(parts: tuple[str | ast.Expr, ...]) -> bool:
    has_text = any(isinstance(p, str) for p in parts)
    has_expr = any(not isinstance(p, str) for p in parts)
    # Known limit of the `$${` escape: a `$` right before `${` cannot be written.
    dollar_before_expr = any(
        isinstance(a, str) and a.endswith("$") and not isinstance(b, str)
        for a, b in itertools.pairwise(parts)
    )
    return has_text and has_expr and not dollar_before_expr


yaml_values = st.one_of(
    st.builds(ast.Literal, value=texts),
    plain_exprs.filter(lambda e: not (isinstance(e, ast.Literal) and isinstance(e.value, str))),
    templates.filter(lambda t: _yaml_template_ok(t.parts)),
)


@settings(max_examples=200, deadline=None)
@given(yaml_values)
def test_value_strings_round_trip(expr: ast.Expr) -> None:
    text = format_value_string(expr)
    parsed, diagnostics = parse_value_string(text, file="f", line=1, column=1, quoted=True)
    assert diagnostics == [], text
    assert parsed == expr, text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1.()[]{}!-+*?:,'\"`$ &|=<>\\n")), max_size=20))
def test_arbitrary_text_never_raises(text: str) -> None:
    expr, diagnostics = parse_expression(text, file="f", line=2, column=3)
    assert (expr is None) == bool(diagnostics)
    for d in diagnostics:
        assert d.code == "FY005"
        assert d.span.line >= 2
        assert d.hint
