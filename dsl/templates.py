"""YAML value strings: plain text, `${ expr }`, or text with `${ }` parts.

    parse_value_string("${ event.total }", ...)        -> the expression
    parse_value_string("order ${ key } shipped", ...)  -> Template(("order ", key, " shipped"))
    parse_value_string("paid", ...)                    -> Literal("paid")

`$${` writes a literal `${`.

Positions: `line`/`column` are the scalar's start as pyyaml marks it (the opening
quote of a quoted scalar). For single-line scalars without escapes the spans of
inner expressions are exact. Escapes in double-quoted scalars shift later columns
by the escapes' extra width, and for block (`|`, `>`) or folded multi-line scalars
positions are counted within the decoded text (later lines start at column 1),
so there they are approximate.
"""

from __future__ import annotations

from . import ast
from .diagnostics import Diagnostic
from .dsl_lark import Origin
from .dsl_template_scan import TemplateError, has_interpolation, split_template
from .expr_printer import format_expr
from .expressions import empty_expression, parse_expression
from .spans import Span


def _scalar_span(file: str, line: int, column: int, text: str, quoted: bool) -> Span:
    origin = Origin(file, line, column)
    end = origin.shifted(text, len(text) + (2 if quoted else 0))
    return Span(file=file, line=line, column=column, end_line=end.line, end_column=end.column)


def parse_value_string(
    text: str, *, file: str, line: int, column: int, quoted: bool
) -> tuple[ast.Expr | None, list[Diagnostic]]:
    """A YAML string scalar as an expression (see the module docstring).

    Returns None and FY005 diagnostics when an embedded expression is malformed.
    """
    span = _scalar_span(file, line, column, text, quoted)
    if not has_interpolation(text):
        return ast.Literal(value=text.replace("$${", "${"), span=span), []
    body = Origin(file, line, column + 1 if quoted else column)
    try:
        segments = split_template(text, backslash=False)
    except TemplateError as e:
        at = body.shifted(text, e.offset)
        return None, [
            Diagnostic(
                code="FY005",
                message=e.message,
                span=Span.point(file, at.line, at.column, 2),
                hint=e.hint,
            )
        ]
    parts: list[str | ast.Expr] = []
    diagnostics: list[Diagnostic] = []
    for segment in segments:
        if not segment.is_expr:
            parts.append(segment.text)
            continue
        start = body.shifted(text, segment.offset)
        if not segment.text.strip():
            opener = body.shifted(text, segment.offset - 2)
            diagnostics.append(empty_expression(opener, "${ }", "FY005"))
            continue
        expr, found = parse_expression(
            segment.text, file=file, line=start.line, column=start.column
        )
        diagnostics += found
        if expr is not None:
            parts.append(expr)
    if diagnostics:
        return None, diagnostics
    if len(parts) == 1 and not isinstance(parts[0], str):
        return parts[0], []
    return ast.Template(parts=tuple(parts), span=span), []


def escape_text(text: str) -> str:
    """Literal text for a YAML value string: `${` becomes `$${`."""
    return text.replace("${", "$${")


def format_value_string(expr: ast.Expr) -> str:
    """The YAML value string for `expr`, the inverse of `parse_value_string`.

    A string Literal gives its text; a Template its text with `${ e }` parts; any
    other expression `${ e }`. A Template text part that ends in `$` right before
    an expression cannot be written in this syntax and would read back as `$${`.
    """
    if isinstance(expr, ast.Literal) and isinstance(expr.value, str):
        return escape_text(expr.value)
    if isinstance(expr, ast.Template):
        return "".join(
            escape_text(part) if isinstance(part, str) else f"${{ {format_expr(part)} }}"
            for part in expr.parts
        )
    return f"${{ {format_expr(expr)} }}"
