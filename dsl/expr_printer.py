"""Expressions back to source text: `format_expr(parse(t))` re-parses to an equal AST.

Parentheses are added only where precedence needs them. Calls are printed in
function form (`size(x)`, never `x.size()`); both parse to the same node.
"""

from __future__ import annotations

import math
import re

from . import ast

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
RESERVED = frozenset({"true", "false", "null", "in"})

_CONDITIONAL, _UNARY, _POSTFIX = 1, 8, 9
_PRECEDENCE: dict[str, int] = {
    "||": 2,
    "&&": 3,
    "==": 4,
    "!=": 4,
    "<": 5,
    "<=": 5,
    ">": 5,
    ">=": 5,
    "in": 5,
    "+": 6,
    "-": 6,
    "*": 7,
    "/": 7,
    "%": 7,
}
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape_char(c: str, quote: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if c in (quote, "`"):
        return "\\" + c
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"\\u{ord(c):04x}"
    return c


def quote_string(text: str) -> str:
    """A double-quoted string literal for `text`."""
    return '"' + "".join(_escape_char(c, '"') for c in text) + '"'


def is_identifier(text: str) -> bool:
    return IDENTIFIER.match(text) is not None and text not in RESERVED


def format_key(key: str) -> str:
    """A map key: bare when it is an identifier, else quoted."""
    return key if is_identifier(key) else quote_string(key)


def format_literal(value: bool | int | float | str | None) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no literal form")
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    return quote_string(value)


def _precedence(expr: ast.Expr) -> int:
    if isinstance(expr, ast.Conditional):
        return _CONDITIONAL
    if isinstance(expr, ast.Binary):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, ast.Unary):
        return _UNARY
    if (
        isinstance(expr, ast.Literal)
        and isinstance(expr.value, int | float)
        and not isinstance(expr.value, bool)
        and (expr.value < 0 or str(expr.value).startswith("-"))
    ):
        return _UNARY  # printed with a leading minus
    return _POSTFIX


def _wrap(expr: ast.Expr, minimum: int) -> str:
    text = format_expr(expr)
    return f"({text})" if _precedence(expr) < minimum else text


def _template(parts: tuple[str | ast.Expr, ...]) -> str:
    out: list[str] = []
    for i, part in enumerate(parts):
        if isinstance(part, str):
            text = "".join(_escape_char(c, "`") for c in part).replace("${", "$${")
            if text.endswith("$") and i + 1 < len(parts):
                text = text[:-1] + "\\$"
            out.append(text)
        else:
            inner = format_expr(part)
            if "`" in inner.replace("\\`", ""):
                raise ValueError("a template inside a template's ${ } cannot be printed")
            out.append(f"${{ {inner} }}")
    return "`" + "".join(out) + "`"


def format_expr(expr: ast.Expr) -> str:
    """Source text for `expr` that parses back to an equal expression."""
    if isinstance(expr, ast.Literal):
        return format_literal(expr.value)
    if isinstance(expr, ast.Name):
        return expr.name
    if isinstance(expr, ast.Field):
        return f"{_wrap(expr.target, _POSTFIX)}.{expr.name}"
    if isinstance(expr, ast.Index):
        return f"{_wrap(expr.target, _POSTFIX)}[{format_expr(expr.index)}]"
    if isinstance(expr, ast.Unary):
        operand = expr.operand
        if (
            expr.op == "-"
            and isinstance(operand, ast.Literal)
            and isinstance(operand.value, int | float)
            and not isinstance(operand.value, bool)
        ):
            # `-1` would read back as the literal -1, not as a negation of 1.
            return f"-({format_expr(operand)})"
        return expr.op + _wrap(operand, _UNARY)
    if isinstance(expr, ast.Binary):
        level = _PRECEDENCE[expr.op]
        return f"{_wrap(expr.left, level)} {expr.op} {_wrap(expr.right, level + 1)}"
    if isinstance(expr, ast.Conditional):
        condition = _wrap(expr.condition, _CONDITIONAL + 1)
        return f"{condition} ? {format_expr(expr.then)} : {format_expr(expr.otherwise)}"
    if isinstance(expr, ast.Call):
        return f"{expr.function}({', '.join(format_expr(a) for a in expr.args)})"
    if isinstance(expr, ast.ListLit):
        return f"[{', '.join(format_expr(i) for i in expr.items)}]"
    if isinstance(expr, ast.MapLit):
        inner = ", ".join(f"{format_key(k)}: {format_expr(v)}" for k, v in expr.entries)
        return "{" + inner + "}"
    return _template(expr.parts)
