"""YAML text -> a tree of nodes that remember where every key and value was written.

pyyaml composes the document (libyaml's C composer when it is available); this
module turns the composed nodes into `YMap` / `YSeq` / `YScalar`, each with a
`Span` and its plain Python value (`.value`), which is what the JSON Schema sees.

Scalars are resolved by the YAML 1.2 core schema, not pyyaml's YAML 1.1 rules:
plain `on`, `yes`, `off`, `y` and `n` stay strings, and quoted scalars are always
strings. Duplicate keys, anchors, aliases, custom tags, non-string keys and
numbers JSON cannot carry (NaN, infinities, integers beyond 64 bits) are
reported rather than silently accepted.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeAlias

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic
from .numbers import number_problem
from .spans import Span
from .yaml_indentation import indentation_mistake

Scalar: TypeAlias = bool | int | float | str | None

_PLAIN = "!plain"
_YAML = "tag:yaml.org,2002:"
_STR = _YAML + "str"
_MAP = _YAML + "map"
_SEQ = _YAML + "seq"


class _PlainResolver(yaml.resolver.BaseResolver):
    """Tags every untagged plain scalar `!plain`, so we resolve it by the core schema."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {
        None: [(_PLAIN, re.compile(""))]
    }


def _libyaml_parser() -> Any:
    """libyaml's composer (several times faster), when pyyaml was built with it."""
    try:
        from yaml import _yaml
    except ImportError:  # pyyaml built without libyaml: the tests force this path too
        return None
    return _yaml.CParser


_CParser: Any = _libyaml_parser()

use_libyaml: bool = _CParser is not None
"""Whether YAML is read with libyaml; False reads it with pyyaml's pure-Python parser.

Both give the same nodes, marks and diagnostics (the golden tests run both ways,
setting this to False, which is also what a pyyaml without libyaml leaves).
"""


class _PythonLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.BaseConstructor,
    _PlainResolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.BaseConstructor.__init__(self)
        _PlainResolver.__init__(self)


_Loader: Any = _PythonLoader
if _CParser is not None:

    class _LibyamlLoader(_CParser, yaml.constructor.BaseConstructor, _PlainResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.constructor.BaseConstructor.__init__(self)
            _PlainResolver.__init__(self)

    _Loader = _LibyamlLoader


def _safe_loader() -> Any:
    """The loader for `yaml.parse` and `yaml.scan` passes, on the same parser as compose."""
    return yaml.CSafeLoader if use_libyaml else yaml.SafeLoader


class _Node:
    """Where a node was written; the `Span` is made only when someone asks for it."""

    __slots__ = ("_end", "_file", "_span", "_start")

    def __init__(self, file: str, start: Any, end: Any) -> None:
        self._file = file
        self._start = start
        self._end = end
        self._span: Span | None = None

    @property
    def span(self) -> Span:
        if self._span is None:
            s, e = self._start, self._end
            self._span = Span(
                file=self._file,
                line=s.line + 1,
                column=s.column + 1,
                end_line=e.line + 1,
                end_column=e.column + 1,
            )
        return self._span


class YScalar(_Node):
    """A scalar: its resolved value and whether it was written plain (unquoted)."""

    __slots__ = ("plain", "value")

    def __init__(self, value: Scalar, node: Node, file: str, plain: bool) -> None:
        super().__init__(file, node.start_mark, node.end_mark)
        self.value = value
        self.plain = plain


class YMap(_Node):
    """A mapping with string keys, in the order written."""

    __slots__ = ("entries", "index", "value")

    def __init__(self, node: Node, file: str) -> None:
        super().__init__(file, node.start_mark, node.end_mark)
        self.entries: list[tuple[YScalar, YNode]] = []
        self.index: dict[str, tuple[YScalar, YNode]] = {}
        self.value: dict[str, Any] = {}

    def get(self, key: str) -> YNode | None:
        entry = self.index.get(key)
        return entry[1] if entry else None


class YSeq(_Node):
    __slots__ = ("items", "value")

    def __init__(self, node: Node, file: str) -> None:
        super().__init__(file, node.start_mark, node.end_mark)
        self.items: list[YNode] = []
        self.value: list[Any] = []


YNode: TypeAlias = YScalar | YMap | YSeq


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z")
_NAN = frozenset({".nan", ".NaN", ".NAN"})
# Characters a non-string plain scalar can start with; anything else is a string.
_SPECIAL_START = frozenset("0123456789+-.~nNtTfF")


def resolve_plain(text: str) -> Scalar:
    """The value of a plain (unquoted) scalar under the YAML 1.2 core schema."""
    if text and text[0] not in _SPECIAL_START:
        return text
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text[0] == "-" else math.inf
    if text in _NAN:
        return math.nan
    return text


def compose(text: str, *, file: str) -> tuple[YNode | None, list[Diagnostic]]:
    """Parse one YAML document into a located node tree (None for an empty document)."""
    try:
        loader = _Loader(text) if use_libyaml else _PythonLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_error(exc, text, file)]
    except yaml.reader.ReaderError as exc:
        offset = exc.position
        if use_libyaml:  # libyaml counts UTF-8 bytes, not characters
            offset = len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))
        line, column = _position(text, offset)
        return None, [_reader_error(exc, file, line, column)]
    except yaml.YAMLError as exc:
        return None, [
            Diagnostic(
                code="FY002",
                message=f"cannot parse the YAML: {exc}",
                span=Span.point(file, 1, 1),
                hint="check the file is one valid YAML document",
            )
        ]
    if root is None:
        return None, []
    anchors = _anchor_diagnostics(text, file) if _MAY_HAVE_ANCHOR.search(text) else None
    builder = _Builder(file, report_aliases=anchors is None)
    try:
        tree = builder.node(root)
    except RecursionError:
        return None, [
            Diagnostic(
                code="FY002",
                message="the YAML is nested too deeply",
                span=Span.point(file, 1, 1),
                hint="a flow never needs this many levels; check the indentation",
            )
        ]
    return tree, [*(anchors or ()), *builder.diagnostics]


# Where an anchor (`&a`) or alias (`*a`) can start a node: at the start of a line,
# or after `:`, `-`, `?`, `[`, `{` or `,`. Operators inside values (`a && b`,
# `n * 2`) do not match, so most files skip the extra parse below.
_MAY_HAVE_ANCHOR = re.compile(r"(?:^|[:?\-\[{,])[ \t]*[&*]", re.MULTILINE)


def _anchor_diagnostics(text: str, file: str) -> list[Diagnostic]:
    """FY006 for each alias, and for each anchor no alias refers to.

    The composer resolves aliases and forgets anchors, so this reads the parser's
    events, which carry both with their positions.
    """
    loader = _safe_loader()
    anchors: dict[str, Span] = {}
    aliased: set[str] = set()
    out: list[Diagnostic] = []
    try:
        for event in yaml.parse(text, Loader=loader):
            name = getattr(event, "anchor", None)
            if name is None:
                continue
            start: Any = event.start_mark
            end: Any = event.end_mark
            if isinstance(event, yaml.AliasEvent):
                aliased.add(name)
                first = anchors.get(name)
                where = f" (the anchor &{name} is on line {first.line})" if first else ""
                out.append(
                    Diagnostic(
                        code="FY006",
                        message=f"YAML aliases (*{name}) are not supported",
                        span=Span(
                            file=file,
                            line=start.line + 1,
                            column=start.column + 1,
                            end_line=end.line + 1,
                            end_column=end.column + 1,
                        ),
                        hint=f"write the value out where it is used{where}",
                    )
                )
            else:
                anchors.setdefault(
                    name, Span.point(file, start.line + 1, start.column + 1, len(name) + 1)
                )
    except yaml.YAMLError:  # pragma: no cover - the text has just composed without error
        return out
    for name, span in anchors.items():
        if name not in aliased:
            out.append(
                Diagnostic(
                    code="FY006",
                    message=f"YAML anchors (&{name}) are not supported",
                    span=span,
                    hint=f"remove '&{name}'; a flow writes each value out where it is used",
                )
            )
    return out


class _Builder:
    """Turns composed pyyaml nodes into located nodes, collecting what it rejects."""

    def __init__(self, file: str, *, report_aliases: bool = True) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.seen: set[int] = set()
        self.report_aliases = report_aliases

    def node(self, node: Node) -> YNode:
        if id(node) in self.seen:
            # pyyaml gives an alias the very node its anchor named. The anchor pass
            # has usually reported it already, at the alias; stop here either way,
            # since an alias may refer to a node that contains it.
            if not self.report_aliases:
                return YScalar(None, node, self.file, False)
            return self.unsupported(
                node,
                "YAML aliases (*name) are not supported",
                "write the value out where it is used",
            )
        self.seen.add(id(node))
        tag = node.tag
        if isinstance(node, ScalarNode):
            if tag == _PLAIN:
                value = resolve_plain(node.value)
                if isinstance(value, int | float):
                    problem = number_problem(value, node.value)
                    if problem is not None:
                        return self.invalid_number(node, problem)
                return YScalar(value, node, self.file, True)
            if tag == _STR:
                return YScalar(node.value, node, self.file, False)
            return self.unsupported(
                node,
                f"YAML tag '{tag}' is not supported",
                "remove the tag; quote the value if it must be a string",
            )
        if isinstance(node, MappingNode):
            if tag != _MAP:
                return self.unsupported(
                    node, f"YAML tag '{tag}' is not supported", "remove the tag"
                )
            return self.mapping(node)
        if isinstance(node, SequenceNode):
            if tag != _SEQ:
                return self.unsupported(
                    node, f"YAML tag '{tag}' is not supported", "remove the tag"
                )
            seq = YSeq(node, self.file)
            for item in node.value:
                child = self.node(item)
                seq.items.append(child)
                seq.value.append(child.value)
            return seq
        raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover

    def mapping(self, node: MappingNode) -> YMap:
        result = YMap(node, self.file)
        for key_node, value_node in node.value:
            key = self.key(key_node)
            if not isinstance(key, YScalar) or not isinstance(key.value, str):
                shown = key.value if isinstance(key, YScalar) else "a collection"
                self.diagnostics.append(
                    Diagnostic(
                        code="FY006",
                        message=f"mapping keys must be strings, not {_show(shown)}",
                        span=key.span,
                        hint="quote the key",
                    )
                )
                continue
            value = self.node(value_node)
            name = key.value
            first = result.index.get(name)
            if first is not None:
                self.diagnostics.append(
                    Diagnostic(
                        code="FY003",
                        message=(
                            f"duplicate key '{name}' (first written on line {first[0].span.line})"
                        ),
                        span=key.span,
                        hint="remove one of them or merge their contents",
                    )
                )
                continue
            result.entries.append((key, value))
            result.index[name] = (key, value)
            result.value[name] = value.value
        return result

    def key(self, node: Node) -> YNode:
        """A mapping key: a plain number is left for the non-string key check to report."""
        if isinstance(node, ScalarNode) and node.tag == _PLAIN and id(node) not in self.seen:
            self.seen.add(id(node))
            return YScalar(resolve_plain(node.value), node, self.file, True)
        return self.node(node)

    def invalid_number(self, node: Node, problem: tuple[str, str]) -> YScalar:
        scalar = YScalar(None, node, self.file, True)
        message, hint = problem
        self.diagnostics.append(
            Diagnostic(code="FY104", message=message, span=scalar.span, hint=hint)
        )
        return scalar

    def unsupported(self, node: Node, message: str, hint: str) -> YScalar:
        scalar = YScalar(None, node, self.file, False)
        self.diagnostics.append(
            Diagnostic(code="FY006", message=message, span=scalar.span, hint=hint)
        )
        return scalar


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    return str(value)


# pyyaml's problem text -> what it most likely means for someone writing a flow.
_EXPLAIN: tuple[tuple[str, str, str], ...] = (
    (
        "could not find expected ':'",
        "expected 'key: value' here; the line is probably indented wrongly "
        "or a key is missing its ':'",
        "check the indentation of this line and the one before it",
    ),
    (
        "did not find expected key",
        "a line is not aligned with the keys of its mapping (bad indentation)",
        "indent the line like its siblings",
    ),
    (
        "did not find expected '-' indicator",
        "a list item is not aligned with the other items (bad indentation)",
        "start every item of the list at the same column with '- '",
    ),
    (
        "expected <block end>, but found",
        "this line is indented wrongly for the block it is in",
        "align it with its siblings (spaces, not tabs)",
    ),
    (
        "found character '\\t' that cannot start any token",
        "tab character used for indentation",
        "indent with spaces; YAML does not allow tabs",
    ),
    (
        "found a tab character",
        "tab character used for indentation",
        "indent with spaces; YAML does not allow tabs",
    ),
    (
        "found undefined alias",
        "alias to an undefined anchor",
        "YAML aliases are not supported; write the value out",
    ),
    (
        "found unexpected end of stream",
        "the file ends inside an unfinished value (a quote or bracket is not closed)",
        "close the quote or bracket",
    ),
    (
        "expected a single document",
        "the file holds more than one YAML document",
        "remove the '---' separator; one file holds one flow",
    ),
)


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    message, hint = f"YAML syntax error: {problem}", "check the syntax around this position"
    for needle, explained, explained_hint in _EXPLAIN:
        if needle in problem or needle in (exc.context or ""):
            message, hint = explained, explained_hint
            break
    if exc.context and exc.context_mark is not None and mark is not exc.context_mark:
        hint += f" ({exc.context} on line {exc.context_mark.line + 1})"
    lines = text.splitlines()
    if line > len(lines) and lines:
        line, column = len(lines), len(lines[-1]) + 1
    span = Span.point(file, line, column)
    context_line = exc.context_mark.line + 1 if exc.context_mark is not None else None
    if found := indentation_mistake(
        lines, line, file, problem=problem, context=exc.context, context_line=context_line
    ):
        message, hint, span = found
    elif "mapping values are not allowed" in problem and line <= len(lines):
        message, hint, span = _unexpected_colon(lines[line - 1], file, line, column)
    elif "cannot start any token" in problem and line <= len(lines):
        char = lines[line - 1][column - 1 : column] or " "
        if char == "\t":
            message, hint = "tab character used for indentation", "indent with spaces, not tabs"
        else:
            message = f"a plain value cannot start with {char!r}"
            hint = "quote the value"
    elif line <= len(lines) and (quoted := _quoted_start(lines[line - 1], column)) is not None:
        start, value = quoted
        other = '"' if value[0] == "'" else "'"
        message = "this value starts with a quote, so it ends at the closing quote"
        hint = f"quote the whole value: {other}{value}{other}"
        span = Span(
            file=file, line=line, column=start + 1, end_line=line, end_column=start + len(value) + 1
        )
    elif mark is not None and (opened := _quote_run_on(text, mark.index)) is not None:
        message = f"the quoted string opened on line {opened.line + 1} is not closed on that line"
        hint = (
            f"close it with {_char_at(lines, opened)} on line {opened.line + 1}; "
            "a quoted string runs on to the next matching quote"
        )
        span = Span.point(file, opened.line + 1, opened.column + 1)
    elif (
        line <= len(lines)
        and "${" in lines[line - 1][max(0, column - 3) : column + 1]
        and lines[line - 1][max(0, column - 4) : column - 1].strip()[-1:] not in ('"', "'")
    ):
        # `{a: ${ x }}`: in a flow mapping or list, `{` and `}` end a plain value.
        source = lines[line - 1]
        start = source.rfind("${", 0, column + 1)
        end = source.find("}", start)
        template = source[start : end + 1] if end > start else source[start:]
        message = "a '${ ... }' value inside '{ }' or '[ ]' must be quoted"
        hint = f'write "{template}"'
        span = Span(
            file=file,
            line=line,
            column=start + 1,
            end_line=line,
            end_column=len(template) + start + 1,
        )
    elif (
        _missing_comma(problem)
        and exc.context_mark is not None
        and mark is not None
        and exc.context_mark.line < mark.line
    ):
        # `{goto: done` with the `}` forgotten: the next line is read as more of it.
        opened = exc.context_mark
        bracket = _char_at(lines, opened)
        close = {"{": "}", "[": "]"}.get(bracket, "the closing bracket")
        message = f"the '{bracket}' opened on line {opened.line + 1} is not closed"
        hint = f"close it with '{close}'"
        span = Span.point(file, opened.line + 1, opened.column + 1)
    elif _missing_comma(problem):
        close = "]" if "']'" in problem else "}"
        message = f"expected ',' or '{close}' here"
        hint = (
            "separate the entries inside '{ }' or '[ ]' with commas; "
            "quote values that hold spaces and colons"
        )
    elif "unexpected end of stream" in problem and "quoted" in (exc.context or ""):
        opened = exc.context_mark
        if opened is not None:
            message = f"the quoted string opened on line {opened.line + 1} is never closed"
            hint = f"close it with {_char_at(lines, opened)}"
            span = Span.point(file, opened.line + 1, opened.column + 1)
    return Diagnostic(code="FY002", message=message, span=span, hint=hint)


def _missing_comma(problem: str) -> bool:
    """libyaml's "did not find expected ','" or pyyaml's "expected ',' or '}', but got"."""
    return "did not find expected ','" in problem or problem.startswith("expected ','")


def _quoted_start(source: str, column: int) -> tuple[int, str] | None:
    """(start, text) of a value like `'x' in y` on this line when the error follows its quote.

    YAML reads `'x'` as the whole value and stumbles on what follows; an
    expression that begins with a string literal needs the whole of it quoted.
    """
    before = source[: column - 1].rstrip()
    if not before or before[-1] not in "'\"" or column - 1 >= len(source.rstrip()):
        return None
    starts = list(re.finditer(r"(?:^\s*|:\s+|-\s+)(['\"])", before))
    found = starts[-1] if starts else None
    if found is None or found.group(1) != before[-1] or found.start(1) == len(before) - 1:
        return None
    start = found.start(1)
    return start, source[start:].split(" #", maxsplit=1)[0].rstrip()


def _char_at(lines: list[str], mark: Any) -> str:
    """The character at a mark (the quote that opened a string)."""
    if mark.line < len(lines):
        return lines[mark.line][mark.column : mark.column + 1] or "a quote"
    return "a quote"


def _quote_run_on(text: str, error_index: int) -> Any:
    """The start mark of a quoted string that ran over a line end just before an error.

    A quote left open swallows the next line up to the next quote, and the error
    shows up after it; multi-line quoted strings are rare in flows, so such a
    string right before the error is most likely the cause.
    """
    loader = _safe_loader()
    last: Any = None
    try:
        for token in yaml.scan(text, Loader=loader):
            if token.start_mark.index >= error_index:
                break
            last = token
    except yaml.YAMLError:
        pass
    if not isinstance(last, yaml.ScalarToken) or last.style not in ('"', "'"):
        return None
    start, end = last.start_mark, last.end_mark
    return start if start.line < end.line else None


def _unexpected_colon(source: str, file: str, line: int, column: int) -> tuple[str, str, Span]:
    """libyaml's "mapping values are not allowed": a second `: ` or a mis-indented key."""
    before = source[: column - 1]
    if ": " in before or before.rstrip().endswith(":"):
        return (
            "unexpected ':' inside a value",
            "quote the value: a plain value cannot contain ': '",
            Span.point(file, line, column),
        )
    start = len(source) - len(source.lstrip(" "))
    return (
        "this key is indented wrongly (deeper than its siblings, under a value)",
        "indent the key like the other keys of its mapping",
        Span(file=file, line=line, column=start + 1, end_line=line, end_column=column),
    )


def _reader_error(exc: yaml.reader.ReaderError, file: str, line: int, column: int) -> Diagnostic:
    if isinstance(exc.character, str):
        what = f"character {exc.character!r} (U+{ord(exc.character):04X})"
    else:
        what = f"byte 0x{exc.character:02X}"
    return Diagnostic(
        code="FY002",
        message=f"YAML cannot contain the {what}",
        span=Span.point(file, line, column),
        hint="remove the character or escape it inside a double-quoted string",
    )


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column
