"""Print IR expressions (docs/ir.md, "Expressions") back as CEL source text.

Used by the graph renderers to label guards, timer times and assignments the way
an author would write them, with parentheses only where precedence needs them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# CEL precedence, loosest first. A child is parenthesised when it binds looser
# than its position requires.
_COND = 1
_OR = 2
_AND = 3
_RELATION = 4
_ADDITIVE = 5
_MULTIPLICATIVE = 6
_UNARY = 7
_MEMBER = 8
_PRIMARY = 9

_BINARY_PRECEDENCE: dict[str, int] = {
    "||": _OR,
    "&&": _AND,
    "==": _RELATION,
    "!=": _RELATION,
    "<": _RELATION,
    "<=": _RELATION,
    ">": _RELATION,
    ">=": _RELATION,
    "in": _RELATION,
    "+": _ADDITIVE,
    "-": _ADDITIVE,
    "*": _MULTIPLICATIVE,
    "/": _MULTIPLICATIVE,
    "%": _MULTIPLICATIVE,
}

# `a && (b && c)` means the same as `a && b && c`, so the right side of these
# needs no parentheses at equal precedence.
_ASSOCIATIVE = frozenset({"||", "&&"})

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_STRING_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def expr_to_text(expr: Mapping[str, Any]) -> str:
    """Return CEL source text for an IR expression, e.g. `event.amount >= data.total`."""
    text, _ = _print(expr)
    return text


def _print(expr: Mapping[str, Any]) -> tuple[str, int]:
    """Return the text and the precedence of its outermost operator."""
    op = expr.get("op")
    if op == "lit":
        return _literal(expr.get("value"))
    if op == "name":
        return str(expr["name"]), _PRIMARY
    if op == "field":
        target = _operand(expr["target"], _MEMBER)
        name = str(expr["name"])
        if _IDENTIFIER.fullmatch(name):
            return f"{target}.{name}", _MEMBER
        return f"{target}[{_string_literal(name)}]", _MEMBER
    if op == "index":
        target = _operand(expr["target"], _MEMBER)
        return f"{target}[{expr_to_text(expr['index'])}]", _MEMBER
    if op == "unary":
        return _unary(expr)
    if op == "binary":
        return _binary(expr)
    if op == "cond":
        condition = _operand(expr["condition"], _OR)
        then = _operand(expr["then"], _OR)
        otherwise = _operand(expr["otherwise"], _COND)
        return f"{condition} ? {then} : {otherwise}", _COND
    if op == "call":
        args = ", ".join(expr_to_text(arg) for arg in expr.get("args", []))
        return f"{expr['function']}({args})", _MEMBER
    if op == "list":
        items = ", ".join(expr_to_text(item) for item in expr.get("items", []))
        return f"[{items}]", _PRIMARY
    if op == "map":
        entries = ", ".join(
            f"{_string_literal(str(entry['key']))}: {expr_to_text(entry['value'])}"
            for entry in expr.get("entries", [])
        )
        return "{" + entries + "}", _PRIMARY
    if op == "template":
        return _template(expr.get("parts", [])), _PRIMARY
    raise ValueError(f"unknown expression op {op!r}")


def _operand(expr: Mapping[str, Any], minimum: int) -> str:
    text, precedence = _print(expr)
    return text if precedence >= minimum else f"({text})"


def _unary(expr: Mapping[str, Any]) -> tuple[str, int]:
    operator = str(expr["operator"])
    operand = expr["operand"]
    text, precedence = _print(operand)
    # CEL allows `!!x` and `--x` but not a mix such as `!-x`.
    mixed = operand.get("op") == "unary" and operand.get("operator") != operator
    if precedence < _UNARY or mixed or (precedence == _UNARY and operand.get("op") == "lit"):
        text = f"({text})"
    return f"{operator}{text}", _UNARY


def _binary(expr: Mapping[str, Any]) -> tuple[str, int]:
    operator = str(expr["operator"])
    precedence = _BINARY_PRECEDENCE[operator]
    left = _operand(expr["left"], precedence)
    right_minimum = precedence if operator in _ASSOCIATIVE else precedence + 1
    right = _operand(expr["right"], right_minimum)
    return f"{left} {operator} {right}", precedence


def _literal(value: Any) -> tuple[str, int]:
    if value is None:
        return "null", _PRIMARY
    if isinstance(value, bool):
        return ("true" if value else "false"), _PRIMARY
    if isinstance(value, int | float):
        text = json.dumps(value) if isinstance(value, int) else repr(value)
        # A negative number reads as a unary minus: `(-1).x`, `-(-1)`.
        return text, (_UNARY if value < 0 else _PRIMARY)
    if isinstance(value, str):
        return _string_literal(value), _PRIMARY
    raise ValueError(f"unexpected literal {value!r}")


def _string_literal(value: str) -> str:
    escaped = "".join(_STRING_ESCAPES.get(ch, ch) for ch in value)
    return f"'{escaped}'"


def _template(parts: list[Any]) -> str:
    """Templates print as the author wrote them: `"text ${ expr } text"`."""
    pieces: list[str] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part.replace("\\", "\\\\").replace('"', '\\"'))
        else:
            pieces.append("${ " + expr_to_text(part) + " }")
    return '"' + "".join(pieces) + '"'
