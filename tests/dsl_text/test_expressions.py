"""The expression language: syntax, precedence, spans and syntax errors."""

from __future__ import annotations

import pytest
from flowyard.dsl import ast
from flowyard.dsl.expressions import parse_expression
from flowyard.dsl.spans import Span


def parse(text: str) -> ast.Expr:
    expr, diagnostics = parse_expression(text, file="f.flow")
    assert diagnostics == []
    assert expr is not None
    return expr


def name(n: str) -> ast.Name:
    return ast.Name(name=n)


def lit(v: bool | int | float | str | None) -> ast.Literal:
    return ast.Literal(value=v)


def binary(op: ast.BinaryOp, left: ast.Expr, right: ast.Expr) -> ast.Binary:
    return ast.Binary(op=op, left=left, right=right)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("null", None),
        ("true", True),
        ("false", False),
        ("42", 42),
        ("4.5", 4.5),
        ("1e3", 1000.0),
        ("-7", -7),
        ("-2.5", -2.5),
        ('"a\\"b"', 'a"b'),
        ("'it\\'s'", "it's"),
        ('"tab\\tnew\\nline \\u00e9 \\U0001F600"', "tab\tnew\nline é \U0001f600"),
        ("'${ not a template }'", "${ not a template }"),
    ],
)
def test_literals(text: str, value: object) -> None:
    expr = parse(text)
    assert isinstance(expr, ast.Literal)
    assert expr.value == value
    assert type(expr.value) is type(value)


def test_names_fields_indexes_and_calls() -> None:
    assert parse("event.order_id") == ast.Field(target=name("event"), name="order_id")
    assert parse("data.items[0]") == ast.Index(
        target=ast.Field(target=name("data"), name="items"), index=lit(0)
    )
    assert parse("size(data.items)") == ast.Call(
        function="size", args=(ast.Field(target=name("data"), name="items"),)
    )
    # The receiver form is the function form with the receiver first.
    assert parse("data.name.matches('^a')") == parse("matches(data.name, '^a')")
    assert parse("now()") == ast.Call(function="now", args=())


def test_keywords_of_the_dsl_are_names_in_expressions() -> None:
    assert parse("key") == name("key")
    assert parse("event.key + data.state") == binary(
        "+",
        ast.Field(target=name("event"), name="key"),
        ast.Field(target=name("data"), name="state"),
    )
    assert parse("meta.in") == ast.Field(target=name("meta"), name="in")


def test_list_and_map_literals() -> None:
    assert parse("[1, 'a', [],]") == ast.ListLit(items=(lit(1), lit("a"), ast.ListLit(items=())))
    assert parse("{\"k\": 1, k2: key, 'k 3': {}}") == ast.MapLit(
        entries=(("k", lit(1)), ("k2", name("key")), ("k 3", ast.MapLit(entries=())))
    )


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("a || b && c", "a || (b && c)"),
        ("a && b == c", "a && (b == c)"),
        ("a == b < c", "a == (b < c)"),
        ("a < b + c", "a < (b + c)"),
        ("a in b + c", "a in (b + c)"),
        ("a + b * c", "a + (b * c)"),
        ("a - b - c", "(a - b) - c"),
        ("a / b % c", "(a / b) % c"),
        ("!a.b", "!(a.b)"),
        ("-a * b", "(-a) * b"),
        ("a ? b : c ? d : e", "a ? b : (c ? d : e)"),
        ("a || b ? c : d", "(a || b) ? c : d"),
        ("a ? b ? c : d : e", "a ? (b ? c : d) : e"),
    ],
)
def test_precedence(text: str, same_as: str) -> None:
    assert parse(text) == parse(same_as)


def test_negative_literal_versus_negation() -> None:
    assert parse("-1") == lit(-1)
    assert parse("-(1)") == ast.Unary(op="-", operand=lit(1))
    assert parse("--1") == ast.Unary(op="-", operand=lit(-1))
    assert parse("a - 1") == binary("-", name("a"), lit(1))


def test_backtick_templates() -> None:
    assert parse("`order ${ key } is ${data.status}!`") == ast.Template(
        parts=("order ", name("key"), " is ", ast.Field(target=name("data"), name="status"), "!")
    )
    assert parse("`a $${b} \\` c`") == ast.Template(parts=("a ${b} ` c",))
    assert parse("`\\$${ x }`") == ast.Template(parts=("$", name("x")))


def test_spans_are_file_positions() -> None:
    text = "event.amount >= data.total"
    expr, _ = parse_expression(text, file="f.yaml", line=12, column=15)
    assert isinstance(expr, ast.Binary)
    assert expr.span == Span(file="f.yaml", line=12, column=15, end_line=12, end_column=41)
    assert expr.left.span == Span(file="f.yaml", line=12, column=15, end_line=12, end_column=27)
    assert expr.right.span == Span(file="f.yaml", line=12, column=31, end_line=12, end_column=41)


def test_spans_on_later_lines_start_at_column_one() -> None:
    expr, _ = parse_expression("a &&\n  b", file="f", line=3, column=10)
    assert isinstance(expr, ast.Binary)
    assert expr.right.span == Span(file="f", line=4, column=3, end_line=4, end_column=4)


def test_template_part_spans() -> None:
    expr, _ = parse_expression("`ab ${ key }`", file="f", line=2, column=5)
    assert isinstance(expr, ast.Template)
    inner = expr.parts[1]
    assert isinstance(inner, ast.Name)
    assert (inner.span.line, inner.span.column, inner.span.end_column) == (2, 12, 15)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("a &&", "expected an operand after '&&'", 5),
        ("a + * b", "expected an operand after '+'", 5),
        ("(a + b", "unclosed '('", 1),
        ("f(a, [1, 2)", "')' does not close the '['", 11),
        ("{a: 1", "unclosed '{'", 1),
        ("x.", "expected a field name after '.'", 3),
        ("a @ b", "unexpected character '@'", 3),
        ('"abc', "unterminated string", 1),
        ("`abc", "unterminated template", 1),
        ('"\\q"', "unknown escape", 2),
        ("a b", "unexpected 'b'", 3),
        ("`${ a + }`", "expected an operand after '+'", 8),
        ("`${ a`", "unclosed '${'", 2),
        ("   ", "empty expression", 1),
    ],
)
def test_syntax_errors_are_fy005_at_the_right_place(text: str, message: str, column: int) -> None:
    expr, diagnostics = parse_expression(text, file="f", line=7, column=1)
    assert expr is None
    assert len(diagnostics) == 1
    d = diagnostics[0]
    assert d.code == "FY005"
    assert message in d.message
    assert (d.span.file, d.span.line, d.span.column) == ("f", 7, column)
    assert d.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e999", "the number 1e999 is too large"),
        ("-1e999", "the number -1e999 is too large"),
        ("9223372036854775808", "does not fit in 64 bits"),
        ("-9223372036854775809", "does not fit in 64 bits"),
        ("data.n > 99999999999999999999", "does not fit in 64 bits"),
    ],
)
def test_numbers_json_cannot_hold_are_fy104(text: str, message: str) -> None:
    expr, diagnostics = parse_expression(text, file="f", line=3, column=5)
    assert expr is None
    (d,) = diagnostics
    assert (d.code, d.span.line) == ("FY104", 3)
    assert message in d.message
    assert d.hint


def test_the_64_bit_bounds_themselves_are_accepted() -> None:
    for text, value in [("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63))]:
        expr, diagnostics = parse_expression(text, file="f")
        assert diagnostics == []
        assert expr == ast.Literal(value=value)


def test_error_positions_follow_the_origin() -> None:
    _, diagnostics = parse_expression("data.x ==", file="f", line=4, column=20)
    assert (diagnostics[0].span.line, diagnostics[0].span.column) == (4, 29)


def test_expected_tokens_do_not_list_dsl_keywords() -> None:
    _, diagnostics = parse_expression("a b", file="f")
    assert diagnostics[0].hint is not None
    assert "goto" not in diagnostics[0].hint
    assert "an operator" in diagnostics[0].hint


@pytest.mark.parametrize(
    ("text", "message", "hint", "column"),
    [
        ("a and b", "'and' is not an operator here", "write '&&'", 3),
        ("a or b", "'or' is not an operator here", "write '||'", 3),
        ("not has(a.b)", "'not' is not an operator here", "write '!'", 1),
        ("a = 1", "'=' is not a comparison", "write '=='", 3),
    ],
)
def test_habits_from_other_languages(text: str, message: str, hint: str, column: int) -> None:
    _, diagnostics = parse_expression(text, file="f")
    (d,) = diagnostics
    assert d.message == message
    assert d.hint is not None and d.hint.startswith(hint)
    assert d.span.column == column


def test_a_field_named_not_is_still_a_field() -> None:
    expr, diagnostics = parse_expression("event.not == 1", file="f")
    assert diagnostics == []
    assert expr is not None
