"""Shared pieces of the .flow builder: names, strings, durations, constants, diagnostics."""

from __future__ import annotations

from lark import Token, Tree

from . import ast
from .diagnostics import Diagnostic
from .dsl_lark import Node, Origin
from .durations import duration_hint, parse_duration
from .expressions import ExprBuilder
from .numbers import number_problem
from .spans import Span


def children(tree: Tree[Token]) -> list[Node]:
    return list(tree.children)


def subtrees(tree: Tree[Token]) -> list[Tree[Token]]:
    return [c for c in tree.children if isinstance(c, Tree)]


def tokens(tree: Tree[Token]) -> list[Token]:
    return [c for c in tree.children if isinstance(c, Token)]


class Builder:
    """Diagnostics, spans and the leaf values every part of a .flow file uses."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.exprs = ExprBuilder(origin, code="FY004")
        self.diagnostics: list[Diagnostic] = []

    def report(self, code: str, message: str, span: Span, hint: str) -> None:
        self.diagnostics.append(Diagnostic(code=code, message=message, span=span, hint=hint))

    def span(self, node: Node) -> Span:
        return self.origin.span_of(node)

    def string(self, token: Token) -> str:
        return self.exprs.string(token)

    def name(self, tree: Tree[Token]) -> tuple[str, Span]:
        """A `name` tree: an identifier or a quoted string."""
        token = tokens(tree)[0]
        value = self.string(token) if token.type == "STRING" else str(token.value)
        return value, self.span(tree)

    def integer(self, token: Token) -> int:
        """An INT token's value; 0, reported, when it does not fit in 64 bits."""
        value = int(token.value)
        problem = number_problem(value, str(token.value))
        if problem is None:
            return value
        self.report("FY104", problem[0], self.span(token), problem[1])
        return 0

    def expr(self, node: Node) -> ast.Expr:
        return self.exprs.build(node)

    def duration(self, tree: Tree[Token]) -> ast.Duration:
        token = tokens(tree)[0]
        text = self.string(token) if token.type == "STRING" else str(token.value)
        span = self.span(tree)
        millis = parse_duration(text)
        if millis is None:
            self.report(
                "FY501",
                f"invalid duration '{text}'",
                span,
                duration_hint(text),
            )
            millis = 0
        return ast.Duration(text=text, millis=millis, span=span)

    def constant(self, node: Node, what: str) -> ast.JSON:
        """A constant JSON value written with expression syntax (schemas, defaults, match)."""
        return self._constant(self.expr(node), what)

    def _constant(self, expr: ast.Expr, what: str) -> ast.JSON:
        if isinstance(expr, ast.Literal):
            return expr.value
        if isinstance(expr, ast.ListLit):
            return [self._constant(item, what) for item in expr.items]
        if isinstance(expr, ast.MapLit):
            out: dict[str, ast.JSON] = {}
            for key, value in expr.entries:
                if key in out:
                    self.report(
                        "FY104",
                        f"key '{key}' is written twice in {what}",
                        value.span,
                        "remove one of them",
                    )
                out[key] = self._constant(value, what)
            return out
        self.report(
            "FY104",
            f"{what} must be a constant value",
            expr.span,
            "write literals only (strings, numbers, true/false/null, [lists], {maps})",
        )
        return None

    def schema(self, tree: Tree[Token], what: str) -> ast.SchemaDecl:
        expr = self.expr(tree)
        value = self._constant(expr, what)
        assert isinstance(value, dict)  # the grammar only allows a map here
        return ast.SchemaDecl(schema=value, span=self.span(tree), places=places(expr))

    def once(self, seen: dict[str, Span], keyword: str, span: Span, where: str) -> bool:
        """Record a clause that may appear once; report and return False on a repeat."""
        if keyword in seen:
            first = seen[keyword]
            self.report(
                "FY004",
                f"'{keyword}' is given twice in {where}",
                span,
                f"keep one (the first is at line {first.line}, column {first.column})",
            )
            return False
        seen[keyword] = span
        return True

    def missing(self, what: str, where: str, span: Span, example: str) -> None:
        self.report("FY103", f"{where} has no '{what}'", span, f"add it, for example: {example}")


def places(expr: ast.Expr, path: ast.JsonPath = ()) -> dict[ast.JsonPath, Span]:
    """The span of every part of a constant map or list, by its path below `expr`."""
    out: dict[ast.JsonPath, Span] = {}
    if isinstance(expr, ast.MapLit):
        for key, value in expr.entries:
            out[(*path, key)] = value.span
            out.update(places(value, (*path, key)))
    elif isinstance(expr, ast.ListLit):
        for index, item in enumerate(expr.items):
            out[(*path, index)] = item.span
            out.update(places(item, (*path, index)))
    return out
