"""Expressions: AST nodes -> the IR's JSON expression tree (docs/ir.md, "Expressions")."""

from __future__ import annotations

from typing import Any

from ..dsl import ast

IRExpr = dict[str, Any]


def lower_expr(expr: ast.Expr) -> IRExpr:
    """The IR tree for one expression; spans are recorded separately, at the root only."""
    match expr:
        case ast.Literal(value=value):
            return {"op": "lit", "value": value}
        case ast.Name(name=name):
            return {"op": "name", "name": name}
        case ast.Field(target=target, name=name):
            return {"op": "field", "target": lower_expr(target), "name": name}
        case ast.Index(target=target, index=index):
            return {"op": "index", "target": lower_expr(target), "index": lower_expr(index)}
        case ast.Unary(op=op, operand=operand):
            return {"op": "unary", "operator": op, "operand": lower_expr(operand)}
        case ast.Binary(op=op, left=left, right=right):
            return {
                "op": "binary",
                "operator": op,
                "left": lower_expr(left),
                "right": lower_expr(right),
            }
        case ast.Conditional(condition=condition, then=then, otherwise=otherwise):
            return {
                "op": "cond",
                "condition": lower_expr(condition),
                "then": lower_expr(then),
                "otherwise": lower_expr(otherwise),
            }
        case ast.Call(function=function, args=args):
            return {"op": "call", "function": function, "args": [lower_expr(a) for a in args]}
        case ast.ListLit(items=items):
            return {"op": "list", "items": [lower_expr(i) for i in items]}
        case ast.MapLit(entries=entries):
            return {
                "op": "map",
                "entries": [{"key": k, "value": lower_expr(v)} for k, v in entries],
            }
        case ast.Template(parts=parts):
            return {
                "op": "template",
                "parts": [p if isinstance(p, str) else lower_expr(p) for p in parts],
            }
    raise TypeError(f"not an expression node: {expr!r}")
