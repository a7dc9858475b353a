"""The one lark parser for grammar.lark, source positions, and human syntax-error messages.

Both the expression language and the `.flow` DSL parse with the same LALR table
(two start rules), built lazily once per process and cached on disk by lark.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
from collections.abc import Iterable
from dataclasses import dataclass

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from .diagnostics import Diagnostic, did_you_mean
from .durations import suggest_duration
from .spans import Span

Node = Tree[Token] | Token


@functools.cache
def parser() -> Lark:
    """The LALR parser for grammar.lark (start rules `flow` and `expression`)."""
    grammar = importlib.resources.files(__package__).joinpath("grammar.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=["flow", "expression"],
        propagate_positions=True,
        maybe_placeholders=False,
        cache=_cache_file(grammar),
    )


def _cache_file(grammar: str) -> str | bool:
    """A per-user file for lark's table cache (building the table costs ~0.2 s).

    Not lark's default (a predictable name in the shared temp folder): the cache
    is a pickle, so it lives where only this user can write.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "flowyard")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return os.path.join(folder, f"grammar-{lark.__version__}-{digest}.lark")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the parsed text starts in its file, so spans point into the real file."""

    file: str
    line: int = 1
    column: int = 1

    def position(self, line: int, column: int) -> tuple[int, int]:
        """A (line, column) of the parsed text, as a position in the file."""
        if line == 1:
            return self.line, self.column + column - 1
        return self.line + line - 1, column

    def span(self, line: int, column: int, end_line: int, end_column: int) -> Span:
        l1, c1 = self.position(line, column)
        l2, c2 = self.position(end_line, end_column)
        return Span(file=self.file, line=l1, column=c1, end_line=l2, end_column=c2)

    def span_of(self, node: Node) -> Span:
        """The span of a token or of a tree (its first to last token)."""
        if isinstance(node, Token):
            return self.span(
                node.line or 1, node.column or 1, node.end_line or 1, node.end_column or 1
            )
        meta = node.meta
        if meta.empty:
            return Span.point(self.file, self.line, self.column, 0)
        return self.span(meta.line, meta.column, meta.end_line, meta.end_column)

    def span_between(self, first: Node, last: Node) -> Span:
        a, b = self.span_of(first), self.span_of(last)
        return Span(
            file=self.file,
            line=a.line,
            column=a.column,
            end_line=b.end_line,
            end_column=b.end_column,
        )

    def shifted(self, text: str, offset: int) -> Origin:
        """The origin of `text[offset:]` when `text` starts at this origin."""
        before = text[:offset]
        newlines = before.count("\n")
        if newlines == 0:
            return Origin(self.file, self.line, self.column + offset)
        return Origin(self.file, self.line + newlines, offset - before.rfind("\n"))


class SyntaxFailureError(Exception):
    """A syntax error found while parsing, already turned into a diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def parse_tree(text: str, start: str, origin: Origin, code: str) -> Tree[Token]:
    """Parse `text` from rule `start`; raise SyntaxFailureError with a readable diagnostic.

    The returned tree may be shared between calls with the same text: treat it as read-only.
    """
    try:
        if start == "expression":
            return _expression_tree(text)
        tree = parser().parse(text, start=start)
    except (UnexpectedInput, RecursionError):
        # Parse again token by token, which is what explaining the error needs.
        return _parse_explained(text, start, origin, code)
    assert isinstance(tree, Tree)
    return tree


@functools.lru_cache(maxsize=4096)
def _expression_tree(text: str) -> Tree[Token]:
    """Expressions repeat (`event.id`, `${ key }`); positions in the tree are relative to
    the text, so one tree serves every place the same text is written."""
    tree = parser().parse(text, start="expression")
    assert isinstance(tree, Tree)
    return tree


def _parse_explained(text: str, start: str, origin: Origin, code: str) -> Tree[Token]:
    interactive = parser().parse_interactive(text, start=start)
    seen: list[Token] = []
    try:
        for token in interactive.iter_parse():
            seen.append(token)
        result = interactive.feed_eof(seen[-1] if seen else None)  # type: ignore[no-untyped-call]
    except UnexpectedInput as error:
        raise SyntaxFailureError(_describe(error, text, seen, origin, code, start)) from None
    except RecursionError:
        span = Span.point(origin.file, origin.line, origin.column)
        hint = "split it into smaller parts"
        raise SyntaxFailureError(
            Diagnostic(code=code, message="nesting is too deep", span=span, hint=hint)
        ) from None
    assert isinstance(result, Tree)
    return result


# ---------------------------------------------------------------- error messages

_OPENERS = {"LPAR": ("(", ")"), "LSQB": ("[", "]"), "LBRACE": ("{", "}")}
_CLOSERS = {"RPAR": "(", "RSQB": "[", "RBRACE": "{"}
_OPERATORS = {
    "||", "&&", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%", "!", "?", ":",
}  # fmt: skip
_NO_HINT = "remove it, or complete what comes before it"
_BLOCK_WORDS = {"goto", "set", "call", "catch", "when", "else"}
_NAMED = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "TEMPLATE": "a `template`",
    "DURATION": "a duration such as 30s",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NULL": "'null'",
    "IN": "'in'",
    "FINAL": "'final'",
    "$END": "the end of the input",
}


_KEYWORD_TERMINALS = {
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "IN": "in",
    "FINAL": "final",
}


def _text_of(terminal: str) -> str | None:
    """The literal text of a keyword or punctuation terminal, else None."""
    if terminal in _NAMED:
        return _KEYWORD_TERMINALS.get(terminal)
    try:
        pattern = parser().get_terminal(terminal).pattern
    except KeyError:
        return None
    return pattern.value if isinstance(pattern, PatternStr) else None


def describe_terminal(terminal: str) -> str:
    if terminal in _NAMED:
        return _NAMED[terminal]
    text = _text_of(terminal)
    return f"'{text}'" if text is not None else terminal.lower()


_OPERAND_STARTS = {"NAME", "INT", "FLOAT", "STRING", "TEMPLATE", "TRUE", "FALSE", "NULL", "BANG"}
_EXPRESSION_ONLY = {"MINUS", "LPAR", "LSQB", "LBRACE"}
# Terminals of the expression language: others are DSL keywords, which LALR
# lookahead merging lets through after an expression even when parsing one alone.
_EXPRESSION_TERMINALS = _OPERAND_STARTS | _EXPRESSION_ONLY | {"IN", "$END"}


def _is_expression_terminal(terminal: str) -> bool:
    text = _text_of(terminal)
    if terminal in _EXPRESSION_TERMINALS:
        return True
    return text is not None and not text.isidentifier() and text != "->"


def _describe_expected(expected: Iterable[str], expression_only: bool = False) -> str:
    items = sorted(t for t in set(expected) if not expression_only or _is_expression_terminal(t))
    texts = {t: _text_of(t) for t in items}
    words: list[str] = []
    if len(_OPERAND_STARTS & set(items)) >= 5:
        # Everything that can start an expression is allowed here.
        words.append("an expression")
        items = [t for t in items if t not in _OPERAND_STARTS | _EXPRESSION_ONLY]
    operators = [t for t in items if texts[t] in _OPERATORS and texts[t] not in ("?", ":", "!")]
    if len(operators) >= 3:
        words.append("an operator")
        items = [t for t in items if t not in operators]
    named = [t for t in items if texts[t] is None]
    keywords = [t for t in items if (texts[t] or "").isidentifier()]
    rest = [t for t in items if t not in named and t not in keywords]
    ordered = [t for t in named if t != "$END"] + keywords + rest
    words += [describe_terminal(t) for t in ordered + [t for t in named if t == "$END"]]
    if not words:
        return "something else"
    if len(words) > 12:
        words = [*words[:12], "..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "the end of the input"
    value = str(token.value)
    if len(value) > 30:
        value = value[:27] + "..."
    return f"'{value}'"


def _accepts(start: str, tokens: list[Token]) -> set[str]:
    """The terminals that may follow `tokens` exactly.

    LALR merges lookaheads, so the expected set lark reports when it fails can
    list tokens that are valid elsewhere only; replaying the good tokens into a
    fresh parser and asking it gives the true set.
    """
    try:
        replay = parser().parse_interactive("", start=start)
        for token in tokens:
            replay.feed_token(token)
        accepted: set[str] = replay.accepts()  # type: ignore[no-untyped-call]
        return accepted
    except UnexpectedInput:
        return set()


def _unclosed(seen: list[Token]) -> Token | None:
    """The innermost bracket still open after `seen`."""
    stack: list[Token] = []
    for token in seen:
        if token.type in _OPENERS:
            stack.append(token)
        elif token.type in _CLOSERS and stack:
            stack.pop()
    return stack[-1] if stack else None


def _describe(  # noqa: PLR0917
    error: UnexpectedInput,
    text: str,
    seen: list[Token],
    origin: Origin,
    code: str,
    start: str,
) -> Diagnostic:
    expression_only = start == "expression"
    if isinstance(error, UnexpectedCharacters):
        allowed = _accepts(start, seen) or set(error.allowed or ())
        return _bad_character(error, text, origin, code, allowed, expression_only)
    assert isinstance(error, UnexpectedToken)
    token: Token = error.token
    at_end = token.type == "$END"
    before = [t for t in seen if t is not token]
    previous = before[-1] if before else None
    if at_end:
        line, column = (previous.end_line or 1, previous.end_column or 1) if previous else (1, 1)
        span = origin.span(line, column, line, column + 1)
    else:
        span = origin.span_of(token)
    expected = {
        t
        for t in (_accepts(start, before) or error.expected)
        if not expression_only or _is_expression_terminal(t)
    }

    opener = _unclosed(before)
    if opener is not None and (at_end or token.type in _CLOSERS):
        close = _OPENERS[opener.type][1]
        if at_end or _CLOSERS.get(token.type) != opener.value:
            place = origin.span_of(opener)
            where = f"line {place.line}, column {place.column}"
            if at_end:
                message = f"unclosed '{opener.value}'"
                return Diagnostic(
                    code=code,
                    message=f"{message} (opened at {where})",
                    span=place,
                    hint=f"add the matching '{close}'",
                )
            return Diagnostic(
                code=code,
                message=f"'{token.value}' does not close the '{opener.value}' opened at {where}",
                span=span,
                hint=f"close it with '{close}' first",
            )

    if opener is not None and opener.value == "{":
        index = next(i for i, t in enumerate(before) if t is opener)
        ahead = _text_of(before[index - 1].type) if index > 0 else None
        after = [*before, token][index + 1 : index + 2]
        looks_like_block = bool(after) and str(after[0].value) in _BLOCK_WORDS
        if looks_like_block and (ahead in _OPERATORS or ahead == "when"):
            # `when a && { goto x }`: the block brace was read as a map value.
            return Diagnostic(
                code=code,
                message=f"expected an operand after '{ahead}', found '{{'",
                span=origin.span_of(opener),
                hint="a '{' there starts a map value; complete the expression before the block",
            )

    prev_text = _text_of(previous.type) if previous is not None else None
    if prev_text in _OPERATORS and previous is not None and previous.type != "COLON":
        return Diagnostic(
            code=code,
            message=f"expected an operand after '{prev_text}', found {_token_text(token)}",
            span=span,
            hint="write a value, a name or a parenthesised expression there",
        )
    if prev_text == ".":
        return Diagnostic(
            code=code,
            message=f"expected a field name after '.', found {_token_text(token)}",
            span=span,
            hint="field names are identifiers such as `event.order_id`",
        )
    special = _common_mistake(token, before, expected, origin, span, code)
    if special is None and (slip := _dsl_mistake(token, before, expected, text)) is not None:
        special = Diagnostic(code=code, message=slip[0], span=span, hint=slip[1])
    if special is not None:
        return special
    if token.type == "NAME":
        keywords = [t for t in (_text_of(e) for e in expected) if t and t.isidentifier()]
        guess = did_you_mean(str(token.value), keywords)
        if guess is not None:
            return Diagnostic(
                code=code,
                message=f"unknown word {_token_text(token)}; did you mean '{guess}'?",
                span=span,
                hint=f"expected {_describe_expected(expected)}",
            )
    message = f"unexpected {_token_text(token)}"
    if at_end:
        message = "unexpected end of the input"
    return Diagnostic(
        code=code,
        message=message,
        span=span,
        hint=f"expected {_describe_expected(expected)}" if expected else _NO_HINT,
    )


# Words that start a declaration or a state clause: meeting one inside a block
# that is still open almost always means that block's '}' is missing.
_OUTER_WORDS = {
    "flow", "event", "signal", "effect", "data", "state", "initial",
    "on", "after", "at", "always", "defer", "enter", "exit",
}  # fmt: skip


_WORD_OPERATORS = {"and": "&&", "or": "||"}


def _common_mistake(  # noqa: PLR0917
    token: Token,
    before: list[Token],
    expected: set[str],
    origin: Origin,
    span: Span,
    code: str,
) -> Diagnostic | None:
    """A message for mistakes people make often, where the generic one would puzzle them."""
    value = str(token.value)
    texts = {_text_of(t) for t in expected}
    if value == ":" and [str(t.value) for t in before] == ["flow"]:
        return Diagnostic(
            code=code,
            message="this looks like YAML, but the file is read as the .flow DSL",
            span=span,
            hint="name the file .flow.yaml (or pass --surface yaml), "
            "or start the DSL with `flow NAME version 1`",
        )
    previous = before[-1] if before else None
    if token.type == "NAME" and value in _WORD_OPERATORS and texts & {"&&", "||"}:
        return Diagnostic(
            code=code,
            message=f"'{value}' is not an operator here",
            span=span,
            hint=f"write '{_WORD_OPERATORS[value]}'",
        )
    after_dot = len(before) >= 2 and str(before[-2].value) == "."
    if (
        previous is not None
        and previous.type == "NAME"
        and previous.value == "not"
        and not after_dot
    ):
        return Diagnostic(
            code=code,
            message="'not' is not an operator here",
            span=origin.span_of(previous),
            hint="write '!' before the value: `!has(event.x)`",
        )
    if value == "=" and "==" in texts:
        return Diagnostic(
            code=code,
            message="'=' is not a comparison",
            span=span,
            hint="write '==' to compare ('=' only assigns, in `set field = value`)",
        )
    if token.type == "RBRACE" and _unclosed(before) is None:
        return Diagnostic(
            code=code,
            message="this '}' closes nothing: there is one '}' too many",
            span=span,
            hint="remove it, or check that the braces above are paired",
        )
    if previous is not None and previous.type == "DURATION" and token.type == "NAME":
        written = f"{previous.value} {value}"
        guess = suggest_duration(written)
        return Diagnostic(
            code="FY501",
            message=f"invalid duration '{written}'",
            span=origin.span_between(previous, token),
            hint=(f"write '{guess}'" if guess else "write a duration")
            + " (a number and a unit, no space: 500ms, 30s, 5m, 2h, 1d)",
        )
    opener = _unclosed(before)
    if (
        opener is not None
        and opener.value == "{"
        and "RBRACE" in expected
        and value in _OUTER_WORDS
    ):
        place = origin.span_of(opener)
        return Diagnostic(
            code=code,
            message=f"missing '}}' before '{value}'",
            span=span,
            hint=f"close the block opened at line {place.line}, column {place.column} with '}}'",
        )
    return None


_JSON_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
_ACTION_WORDS = {"goto", "set", "call"}


def _dsl_mistake(
    token: Token, before: list[Token], expected: set[str], text: str
) -> tuple[str, str] | None:
    """(message, hint) for slips in .flow statements, reported at `token`."""
    value = str(token.value)
    previous = before[-1] if before else None

    if expected == {"STRING"} and token.type == "NAME":
        start = token.start_pos or 0
        end = start
        while end < len(text) and not text[end].isspace() and text[end] not in "{}":
            end += 1
        return (f"expected a string, found {_token_text(token)}", f'quote it: "{text[start:end]}"')
    if value == ":" and previous is not None and (_text_of(previous.type) or "").isidentifier():
        return (
            f"no ':' after '{previous.value}' in the DSL",
            f"remove the ':' (write `{previous.value} ...`)",
        )
    if expected == {"LBRACE"} and previous is not None and previous.value == ":":
        example = f'{{type: "{value}"}}' if value in _JSON_TYPES else '{type: "string"}'
        return ("a data field's schema is a map", f"write it as {example}")
    if value in _ACTION_WORDS and "LBRACE" in expected and "RBRACE" not in expected:
        return ("a transition's actions go inside '{ }'", f"write `{{ {value} ... }}`")
    if value == "else":
        return (
            "'else' belongs inside a transition's braces, after its `when` candidates",
            "write `on X { when cond { ... } else { ... } }`",
        )
    if value == "final" and "RBRACE" in expected:
        return ("'final' goes after the state's name", "write `state NAME final`")
    return None


def _bad_character(  # noqa: PLR0917
    error: UnexpectedCharacters,
    text: str,
    origin: Origin,
    code: str,
    allowed: set[str],
    expression_only: bool,
) -> Diagnostic:
    pos = error.pos_in_stream or 0
    char = text[pos] if pos < len(text) else ""
    span = origin.span(error.line, error.column, error.line, error.column + 1)
    if char and char in "\"'":
        return Diagnostic(
            code=code,
            message="unterminated string",
            span=span,
            hint=f"close the string with {char} on the same line (use \\n for a line break)",
        )
    if char == "`":
        return Diagnostic(
            code=code,
            message="unterminated template",
            span=span,
            hint="close the template with a backtick",
        )
    return Diagnostic(
        code=code,
        message=f"unexpected character {char!r}",
        span=span,
        hint=f"expected {_describe_expected(allowed, expression_only)}" if allowed else _NO_HINT,
    )
