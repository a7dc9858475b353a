"""YAML value strings (`${ }` templates) and durations."""

from __future__ import annotations

import pytest
from flowyard.dsl import ast
from flowyard.dsl.durations import (
    duration_hint,
    format_duration,
    parse_duration,
    suggest_duration,
)
from flowyard.dsl.templates import format_value_string, parse_value_string


def value(text: str, *, column: int = 1, quoted: bool = False) -> ast.Expr:
    expr, diagnostics = parse_value_string(text, file="f", line=3, column=column, quoted=quoted)
    assert diagnostics == []
    assert expr is not None
    return expr


def test_plain_text_is_a_literal() -> None:
    assert value("paid") == ast.Literal(value="paid")
    assert value("") == ast.Literal(value="")
    assert value("cost: $5 {x}") == ast.Literal(value="cost: $5 {x}")


def test_a_whole_expression_is_that_expression() -> None:
    assert value("${ event.total }") == ast.Field(target=ast.Name(name="event"), name="total")
    assert value("${key}") == ast.Name(name="key")
    assert value("${ {'a': 1} }") == ast.MapLit(entries=(("a", ast.Literal(value=1)),))


def test_text_with_parts_is_a_template() -> None:
    assert value("order ${ key } is ${ data.status }") == ast.Template(
        parts=(
            "order ",
            ast.Name(name="key"),
            " is ",
            ast.Field(target=ast.Name(name="data"), name="status"),
        )
    )
    assert value("${ a }${ b }") == ast.Template(parts=(ast.Name(name="a"), ast.Name(name="b")))


def test_dollar_dollar_brace_escapes() -> None:
    assert value("$${ not }") == ast.Literal(value="${ not }")
    assert value("a $${x} ${ y }") == ast.Template(parts=("a ${x} ", ast.Name(name="y")))


def test_braces_and_quotes_inside_parts() -> None:
    assert value("${ {'}': '${'} }") == ast.MapLit(entries=(("}", ast.Literal(value="${")),))


def test_inner_spans_point_into_the_file() -> None:
    # `  url: "x ${ args.url }"` with the quote at column 8.
    expr = value("x ${ args.url }", column=8, quoted=True)
    assert isinstance(expr, ast.Template)
    inner = expr.parts[1]
    assert isinstance(inner, ast.Field)
    assert (inner.span.line, inner.span.column, inner.span.end_column) == (3, 14, 22)
    plain = value("${ key }", column=10)
    assert (plain.span.line, plain.span.column, plain.span.end_column) == (3, 13, 16)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("a ${ x", "unclosed '${'", 3),
        ("a ${ } b", "empty expression", 3),
        ("${ a && }", "expected an operand after '&&'", 8),
    ],
)
def test_errors(text: str, message: str, column: int) -> None:
    expr, diagnostics = parse_value_string(text, file="f", line=3, column=1, quoted=False)
    assert expr is None
    assert [d.code for d in diagnostics] == ["FY005"]
    assert message in diagnostics[0].message
    assert diagnostics[0].span.column == column


@pytest.mark.parametrize(
    "text", ["paid", "${ key }", "order ${ key } shipped", "$${ literal } and ${ a.b }", "${ 1 }"]
)
def test_format_value_string_round_trips(text: str) -> None:
    expr = value(text)
    assert value(format_value_string(expr)) == expr


def test_format_value_string_forms() -> None:
    assert format_value_string(ast.Literal(value="a ${b}")) == "a $${b}"
    assert format_value_string(ast.Name(name="key")) == "${ key }"
    assert format_value_string(ast.Literal(value=3)) == "${ 3 }"


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("1h30m", 5_400_000),
        ("1d2h3m4s5ms", 93_784_005),
        ("1.5s", 1_500),
        ("0s", 0),
        ("PT30M", 1_800_000),
        ("P1DT2H", 93_600_000),
        ("PT0.5S", 500),
        ("P2W", 1_209_600_000),
        ("P1D", 86_400_000),
    ],
)
def test_parse_duration(text: str, millis: int) -> None:
    assert parse_duration(text) == millis


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5",
        "30m1h",
        "1h1h",
        "5x",
        "-1s",
        "1m30",
        "P",
        "PT",
        "P1DT",
        "P1Y",
        "P1M",
        "PT0.0001S",
        "1.5ms",
        " 5s",
        "५s",
    ],
)
def test_invalid_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (0, "0s"),
        (1, "1ms"),
        (1_500, "1s500ms"),
        (90_000, "1m30s"),
        (86_400_000, "1d"),
        (93_784_005, "1d2h3m4s5ms"),
    ],
)
def test_format_duration(millis: int, text: str) -> None:
    assert format_duration(millis) == text
    assert parse_duration(text) == millis


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("5 minutes", "5m"),
        ("1 hour 30 minutes", "1h30m"),
        ("2 days", "2d"),
        ("10 sec", "10s"),
        ("500 millis", "500ms"),
        ("5 mins and 10 secs", "5m10s"),
        ("30", "30s"),
        (30, "30s"),
        (1.5, "1.5s"),
    ],
)
def test_spelt_out_durations_suggest_the_short_form(written: object, meant: str) -> None:
    assert suggest_duration(written) == meant
    assert parse_duration(meant) is not None


@pytest.mark.parametrize("written", ["soon", "5 fortnights", "30m 1h", "", None, True, -3])
def test_no_suggestion_when_nothing_fits(written: object) -> None:
    assert suggest_duration(written) is None


def test_duration_hint_leads_with_the_fix() -> None:
    assert duration_hint("2 hours").startswith("did you mean '2h'?")
    assert duration_hint("soon").startswith("write a duration like")
