"""The common expressions, parsed without lark: the same AST and spans, several times faster.

Large flows hold thousands of guards and templates, and lark's LALR parser,
written in Python, spent most of `flowc validate`'s time on them. This
precedence-climbing parser accepts the grammar's `expression` rule
(grammar.lark) for what flows usually write: names, fields, indexes, calls,
methods, numbers, strings without escapes, `true` / `false` / `null`, the
unary, binary and conditional operators, lists and maps. It gives the tree the
lark path gives, with the same spans (a parent's span covers its children's
parentheses, as lark's positions do).

Anything else makes it give up (return None), and the lark path parses the
text as before: a syntax error (so every FY005 message stays lark's, explained),
a backtick template, an escape in a string, a comment, a keyword where a name
is expected, a number JSON cannot hold (FY104), deep nesting. A test checks
that both paths agree, node by node and span by span.
"""

from __future__ import annotations

import re
from typing import NamedTuple, TypeAlias

from . import ast
from .dsl_lark import Origin
from .numbers import number_problem
from .spans import Span

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\f\r\n]+)
  | (?P<float>[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)
  | (?P<int>[0-9]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"[^"\\\n]*"|'[^'\\\n]*')
  | (?P<op>\|\||&&|==|!=|<=|>=|[<>+\-*/%!?:.,()\[\]{}])
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = frozenset({"true", "false", "null", "in"})
_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
# Binary operators and their precedence, loosest first (grammar.lark's or_expr ... mul_expr).
_LEVEL: dict[str, int] = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "in": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}
_MAX_DEPTH = 60


class _Token(NamedTuple):
    kind: str  # "float", "int", "name", "string", "op", "end"
    text: str
    line: int
    column: int
    end_line: int
    end_column: int


class _NotCommonError(Exception):
    """Not for this parser: the lark path decides."""


_Parsed: TypeAlias = tuple[ast.Expr, tuple[int, int], tuple[int, int]]
"""An expression and the extent lark gives its tree, from (line, column) to (line, column):
a parenthesised expression's extent includes the parentheses, its span does not."""


def parse_common_expression(text: str, origin: Origin) -> ast.Expr | None:
    """The expression `text`, or None when only the lark path can say what it is."""
    try:
        tokens = _tokens(text, origin)
        parser = _Parser(tokens, origin)
        parsed = parser.expression()
        if tokens[parser.i].kind != "end":
            return None
    except _NotCommonError:
        return None
    return parsed[0]


def _tokens(text: str, origin: Origin) -> list[_Token]:
    """The tokens of `text`, with their positions in the file (as `origin.position` gives)."""
    out: list[_Token] = []
    # Columns on the text's first line are shifted by where the text starts in its line.
    line, shift, line_start = origin.line, origin.column - 1, 0
    append = out.append
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "ws":
            newlines = text.count("\n", m.start(), m.end())
            if newlines:
                line += newlines
                shift = 0
                line_start = text.rfind("\n", m.start(), m.end()) + 1
            continue
        if kind == "bad":
            raise _NotCommonError  # a character only lark can explain, a comment, a template
        value = m.group()
        end = m.end()
        if (
            kind in ("int", "float")
            and end < len(text)
            and (text[end].isalnum() or text[end] in "_.")
        ):
            raise _NotCommonError  # `1.e5`, `2x`: how lark splits these is its own business
        column = m.start() - line_start + 1 + shift
        append(_Token(kind, value, line, column, line, column + len(value)))  # type: ignore[arg-type]
    column = len(text) - line_start + 1 + shift
    append(_Token("end", "", line, column, line, column))
    return out


class _Parser:
    def __init__(self, tokens: list[_Token], origin: Origin) -> None:
        self.tokens = tokens
        self.file = origin.file
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self, text: str | None = None) -> _Token:
        token = self.tokens[self.i]
        if text is not None and (token.kind != "op" or token.text != text):
            raise _NotCommonError
        self.i += 1
        return token

    def at_op(self, *texts: str) -> bool:
        token = self.tokens[self.i]
        return token.kind == "op" and token.text in texts

    def span(self, start: tuple[int, int], end: tuple[int, int]) -> Span:
        """The span from `start` to `end`, positions in the file already."""
        return Span(
            file=self.file, line=start[0], column=start[1], end_line=end[0], end_column=end[1]
        )

    # expression: or_expr ("?" expression ":" expression)?
    def expression(self) -> _Parsed:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _NotCommonError
        try:
            condition = self.binary(1)
            if not self.at_op("?"):
                return condition
            self.take("?")
            then = self.expression()
            self.take(":")
            otherwise = self.expression()
            conditional = ast.Conditional(
                condition=condition[0],
                then=then[0],
                otherwise=otherwise[0],
                span=self.span(condition[1], otherwise[2]),
            )
            return conditional, condition[1], otherwise[2]
        finally:
            self.depth -= 1

    def binary(self, min_level: int) -> _Parsed:
        """Operators from `or_expr` down to `mul_expr`, each level left-associative."""
        left = self.unary()
        while True:
            token = self.tokens[self.i]
            # A string token's text keeps its quotes, so only operators and `in` match.
            level = _LEVEL.get(token.text, 0)
            if level < min_level:
                return left
            self.i += 1
            right = self.binary(level + 1)
            op: ast.BinaryOp = token.text  # type: ignore[assignment]
            binary = ast.Binary(
                op=op, left=left[0], right=right[0], span=self.span(left[1], right[2])
            )
            left = binary, left[1], right[2]

    def unary(self) -> _Parsed:
        if not self.at_op("!", "-"):
            return self.member()
        token = self.take()
        start = (token.line, token.column)
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _NotCommonError
        try:
            operand = self.unary()
        finally:
            self.depth -= 1
        span = self.span(start, operand[2])
        inner = operand[0]
        last = self.tokens[self.i - 1]
        if token.text == "-" and last.kind in ("int", "float") and operand[1] == last[2:4]:
            # `-1` is a negative literal (as in YAML and CEL); `-(1)` stays a negation.
            return (self.number(last, span, negative=True), start, operand[2])
        return (ast.Unary(op=token.text, operand=inner, span=span), start, operand[2])  # type: ignore[arg-type]

    def member(self) -> _Parsed:
        target = self.primary()
        while self.at_op(".", "["):
            if self.take().text == ".":
                name = self.take()
                if name.kind != "name" or name.text in _KEYWORDS:
                    raise _NotCommonError
                if self.at_op("("):
                    args, end = self.arguments(")")
                    expr: ast.Expr = ast.Call(
                        function=name.text,
                        args=(target[0], *args),
                        span=self.span(target[1], end),
                    )
                else:
                    end = (name.end_line, name.end_column)
                    expr = ast.Field(
                        target=target[0], name=name.text, span=self.span(target[1], end)
                    )
            else:
                index = self.expression()
                close = self.take("]")
                end = (close.end_line, close.end_column)
                expr = ast.Index(target=target[0], index=index[0], span=self.span(target[1], end))
            target = expr, target[1], end
        return target

    def arguments(self, close: str) -> tuple[tuple[ast.Expr, ...], tuple[int, int]]:
        """`(` or `[` already current: the comma-separated expressions up to `close`."""
        self.take()
        args: list[ast.Expr] = []
        while not self.at_op(close):
            args.append(self.expression()[0])
            if not self.at_op(","):
                break
            self.take(",")
        token = self.take(close)
        return tuple(args), (token.end_line, token.end_column)

    def primary(self) -> _Parsed:
        token = self.peek()
        start = (token.line, token.column)
        end = (token.end_line, token.end_column)
        span = self.span(start, end)
        if token.kind in ("int", "float"):
            self.i += 1
            return (self.number(token, span), start, end)
        if token.kind == "string":
            self.i += 1
            return (ast.Literal(value=token.text[1:-1], span=span), start, end)
        if token.kind == "name":
            self.i += 1
            if token.text in _LITERALS:
                return (ast.Literal(value=_LITERALS[token.text], span=span), start, end)
            if token.text in _KEYWORDS:
                raise _NotCommonError
            if self.at_op("("):
                args, end = self.arguments(")")
                call = ast.Call(function=token.text, args=args, span=self.span(start, end))
                return (call, start, end)
            return (ast.Name(name=token.text, span=span), start, end)
        if token.kind != "op":
            raise _NotCommonError
        if token.text == "(":
            self.take()
            inner = self.expression()
            close = self.take(")")
            return (inner[0], start, (close.end_line, close.end_column))
        if token.text == "[":
            items, end = self.arguments("]")
            return (ast.ListLit(items=items, span=self.span(start, end)), start, end)
        if token.text == "{":
            return self.map(start)
        raise _NotCommonError

    def map(self, start: tuple[int, int]) -> _Parsed:
        self.take("{")
        entries: list[tuple[str, ast.Expr]] = []
        while not self.at_op("}"):
            key = self.take()
            if key.kind == "string":
                name = key.text[1:-1]
            elif key.kind == "name" and key.text not in _KEYWORDS:
                name = key.text
            else:
                raise _NotCommonError
            self.take(":")
            entries.append((name, self.expression()[0]))
            if not self.at_op(","):
                break
            self.take(",")
        close = self.take("}")
        end = (close.end_line, close.end_column)
        return (ast.MapLit(entries=tuple(entries), span=self.span(start, end)), start, end)

    def number(self, token: _Token, span: Span, *, negative: bool = False) -> ast.Literal:
        text = ("-" if negative else "") + token.text
        value: int | float = int(text) if token.kind == "int" else float(text)
        if number_problem(value, text) is not None:
            raise _NotCommonError  # FY104, reported by the lark path
        return ast.Literal(value=value, span=span)
