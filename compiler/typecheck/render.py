"""Expressions back to short source text, for quoting them in messages."""

from __future__ import annotations

from ...dsl.ast import (
    Binary,
    Call,
    Conditional,
    Expr,
    Field,
    Index,
    ListLit,
    Literal,
    MapLit,
    Name,
    Template,
    Unary,
)

_MAX = 60


def render(expr: Expr) -> str:
    """`expr` in the expression syntax, shortened with "..." when long."""
    text = _render(expr)
    return text if len(text) <= _MAX else text[: _MAX - 3] + "..."


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def _render(e: Expr) -> str:
    if isinstance(e, Literal):
        return _literal(e.value)
    if isinstance(e, Name):
        return e.name
    if isinstance(e, Field):
        return f"{_render(e.target)}.{e.name}"
    if isinstance(e, Index):
        return f"{_render(e.target)}[{_render(e.index)}]"
    if isinstance(e, Unary):
        return f"{e.op}{_render(e.operand)}"
    if isinstance(e, Binary):
        return f"{_render(e.left)} {e.op} {_render(e.right)}"
    if isinstance(e, Conditional):
        return f"{_render(e.condition)} ? {_render(e.then)} : {_render(e.otherwise)}"
    if isinstance(e, Call):
        return f"{e.function}({', '.join(_render(a) for a in e.args)})"
    if isinstance(e, ListLit):
        return "[" + ", ".join(_render(i) for i in e.items) + "]"
    if isinstance(e, MapLit):
        return "{" + ", ".join(f"{k}: {_render(v)}" for k, v in e.entries) + "}"
    return _template(e) if isinstance(e, Template) else "?"


def _template(e: Template) -> str:
    parts = [p if isinstance(p, str) else "${ " + _render(p) + " }" for p in e.parts]
    return "'" + "".join(parts) + "'"
