"""The expression language (CEL-like): parsing text into `ast.Expr` nodes with spans.

    parse_expression("event.amount >= data.total", file="f.flow.yaml", line=12, column=15)

Syntax errors come back as FY005 diagnostics, never as exceptions. The grammar is
the `expression` rule of grammar.lark; the `.flow` DSL reuses `ExprBuilder` for the
expressions inside a flow.
"""

from __future__ import annotations

from typing import cast

from lark import Token, Tree

from . import ast
from .diagnostics import Diagnostic
from .dsl_lark import Node, Origin, SyntaxFailureError, parse_tree
from .dsl_template_scan import TemplateError, split_template
from .expr_fast_path import parse_common_expression
from .numbers import number_problem
from .spans import Span

_BINARY: dict[str, ast.BinaryOp] = {
    "or_": "||",
    "and_": "&&",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "in_": "in",
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "mod": "%",
}

_SIMPLE_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "'": "'",
    "`": "`",
    "/": "/",
    "$": "$",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
}


class EscapeError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def unescape(body: str) -> str:
    """Apply backslash escapes (`\\n`, `\\"`, `\\u00e9`, ...); raise EscapeError."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        elif nxt in ("u", "U"):
            width = 4 if nxt == "u" else 8
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise EscapeError(f"'\\{nxt}' needs {width} hex digits", i)
            point = int(digits, 16)
            if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                raise EscapeError(f"'\\{nxt}{digits}' is not a valid character", i)
            out.append(chr(point))
            i += 2 + width
        else:
            raise EscapeError(f"unknown escape '\\{nxt}'", i)
    return "".join(out)


class ExprBuilder:
    """Turns `expression` parse trees into AST nodes, collecting diagnostics."""

    def __init__(self, origin: Origin, code: str = "FY005") -> None:
        self.origin = origin
        self.code = code
        self.diagnostics: list[Diagnostic] = []

    def error(self, message: str, span: Span, hint: str) -> None:
        self.diagnostics.append(Diagnostic(code=self.code, message=message, span=span, hint=hint))

    def string(self, token: Token) -> str:
        """The value of a STRING token, escapes applied."""
        raw = str(token.value)
        try:
            return unescape(raw[1:-1])
        except EscapeError as e:
            self._escape_error(token, e, 1)
            return raw[1:-1]

    def _escape_error(self, token: Token, error: EscapeError, skip: int) -> None:
        here = Origin(self.origin.file, *self.origin.position(token.line or 1, token.column or 1))
        at = here.shifted(str(token.value), error.offset + skip)
        self.error(
            error.message,
            Span.point(self.origin.file, at.line, at.column, 2),
            "valid escapes: \\\\ \\\" \\' \\` \\n \\r \\t \\b \\f \\/ \\$ \\uXXXX \\UXXXXXXXX",
        )

    def build(self, node: Node) -> ast.Expr:
        span = self.origin.span_of(node)
        if isinstance(node, Token):
            # A bare token where an expression was expected: only `?` rules inline to it.
            return self._token(node, span)
        kind = str(node.data)
        children = node.children
        if kind in _BINARY:
            left, right = children[0], children[-1]
            return ast.Binary(
                op=_BINARY[kind], left=self.build(left), right=self.build(right), span=span
            )
        if kind == "neg":
            operand = children[0]
            if isinstance(operand, Tree) and operand.data in ("int_lit", "float_lit"):
                # `-1` is a negative literal (as in YAML and CEL); `-(1)` stays a negation.
                token = operand.children[0]
                assert isinstance(token, Token)
                return self._number(token, span, negative=True)
            return ast.Unary(op="-", operand=self.build(operand), span=span)
        if kind == "not_":
            return ast.Unary(op="!", operand=self.build(children[0]), span=span)
        if kind == "conditional":
            a, b, c = (self.build(x) for x in children)
            return ast.Conditional(condition=a, then=b, otherwise=c, span=span)
        if kind == "paren":
            return self.build(children[0])
        if kind == "field":
            return ast.Field(target=self.build(children[0]), name=str(children[1]), span=span)
        if kind == "index":
            return ast.Index(
                target=self.build(children[0]), index=self.build(children[1]), span=span
            )
        if kind == "method":
            target, name, *rest = children
            args = self._args(rest)
            return ast.Call(function=str(name), args=(self.build(target), *args), span=span)
        if kind == "function":
            name, *rest = children
            return ast.Call(function=str(name), args=self._args(rest), span=span)
        if kind == "list":
            return ast.ListLit(items=self._args(children), span=span)
        if kind == "map":
            return ast.MapLit(entries=self.entries(node), span=span)
        if kind == "var":
            return ast.Name(name=str(children[0]), span=span)
        token = children[0]
        assert isinstance(token, Token)
        return self._token(token, span)

    def _token(self, token: Token, span: Span) -> ast.Expr:
        kind = token.type
        text = str(token.value)
        if kind in ("INT", "FLOAT"):
            return self._number(token, span)
        if kind == "STRING":
            return ast.Literal(value=self.string(token), span=span)
        if kind == "TRUE":
            return ast.Literal(value=True, span=span)
        if kind == "FALSE":
            return ast.Literal(value=False, span=span)
        if kind == "NULL":
            return ast.Literal(value=None, span=span)
        if kind == "TEMPLATE":
            return self._template(token, span)
        return ast.Name(name=text, span=span)

    def _number(self, token: Token, span: Span, *, negative: bool = False) -> ast.Literal:
        text = ("-" if negative else "") + str(token.value)
        value: int | float = int(text) if token.type == "INT" else float(text)
        problem = number_problem(value, text)
        if problem is not None:
            # Not a syntax error: the number is well written, just not storable.
            message, hint = problem
            self.diagnostics.append(Diagnostic(code="FY104", message=message, span=span, hint=hint))
            value = 0
        return ast.Literal(value=value, span=span)

    def _args(self, rest: list[Node]) -> tuple[ast.Expr, ...]:
        if not rest:
            return ()
        args = rest[0]
        assert isinstance(args, Tree)
        return tuple(self.build(c) for c in args.children)

    def entries(self, node: Tree[Token]) -> tuple[tuple[str, ast.Expr], ...]:
        """The entries of a `map` tree, keys unquoted."""
        out: list[tuple[str, ast.Expr]] = []
        for entry in node.children:
            assert isinstance(entry, Tree)
            key, value = entry.children
            assert isinstance(key, Token)
            name = self.string(key) if key.type == "STRING" else str(key.value)
            out.append((name, self.build(value)))
        return tuple(out)

    def _template(self, token: Token, span: Span) -> ast.Expr:
        raw = str(token.value)[1:-1]
        here = Origin(self.origin.file, *self.origin.position(token.line or 1, token.column or 1))
        body = here.shifted(str(token.value), 1)
        try:
            segments = split_template(raw, backslash=True)
        except TemplateError as e:
            at = body.shifted(raw, e.offset)
            self.error(e.message, Span.point(at.file, at.line, at.column, 2), e.hint)
            return ast.Template(parts=(), span=span)
        parts: list[str | ast.Expr] = []
        for segment in segments:
            if not segment.is_expr:
                try:
                    parts.append(unescape(segment.text))
                except EscapeError as e:
                    self._escape_error(token, e, 1 + segment.offset)
                continue
            start = body.shifted(raw, segment.offset)
            expr, diagnostics = parse_expression(
                segment.text, file=start.file, line=start.line, column=start.column
            )
            for d in diagnostics:
                self.diagnostics.append(
                    Diagnostic(code=self.code, message=d.message, span=d.span, hint=d.hint)
                )
            if expr is not None:
                parts.append(expr)
        merged: list[str | ast.Expr] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part != "":
                merged.append(part)
        return ast.Template(parts=tuple(merged), span=span)


def empty_expression(origin: Origin, text: str, code: str) -> Diagnostic:
    return Diagnostic(
        code=code,
        message="empty expression",
        span=Span.point(origin.file, origin.line, origin.column, max(1, len(text))),
        hint="write an expression such as `event.order_id`",
    )


def parse_expression(
    text: str, *, file: str, line: int = 1, column: int = 1
) -> tuple[ast.Expr | None, list[Diagnostic]]:
    """Parse one expression; `line`/`column` say where `text` starts in `file`.

    Returns the expression (None on an error) and its diagnostics: FY005 for syntax,
    FY104 for a number JSON cannot hold.
    """
    origin = Origin(file, line, column)
    if not text.strip():
        return None, [empty_expression(origin, text, "FY005")]
    common = parse_common_expression(text, origin)
    if common is not None:
        return common, []
    try:
        tree = parse_tree(text, "expression", origin, "FY005")
    except SyntaxFailureError as failure:
        return None, [failure.diagnostic]
    builder = ExprBuilder(origin)
    try:
        expr = builder.build(cast(Node, tree))
    except RecursionError:
        span = Span.point(file, line, column)
        return None, [
            Diagnostic(
                code="FY005",
                message="expression is nested too deeply",
                span=span,
                hint="split it into smaller parts",
            )
        ]
    if builder.diagnostics:
        return None, builder.diagnostics
    return expr, []
