"""Comments of a flow's source, attached to the node they precede, for `flowc convert`.

Neither parser keeps comments, so they are found in the source text (YAML: a
`#` outside every scalar token; DSL: lark's COMMENT tokens) and attached to
*anchors*: the nodes each printer writes on a line of their own (events,
signals, effects, data fields, states, triggers, transitions and actions).

- A comment on its own line goes before the anchor that starts on the next
  line holding code ("kept in place"). Comments above the flow's first line
  stay at the top of the file; comments after its last line stay at the end.
- A comment whose next line starts no anchor (inside a schema, a map, a
  multi-line expression, or before a section key such as `states:`) goes
  before the innermost anchor holding it, or before the next anchor when
  none holds it ("moved").
- A comment at the end of a line of code goes on its own line before the
  anchor on that line, or the innermost one holding it ("moved").
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import yaml

from . import ast
from .spans import Span


@dataclass(frozen=True, slots=True)
class Comment:
    line: int  # 1-based
    text: str  # after the '#'
    trailing: bool  # written after code on its line


def source_comments(text: str, surface: Literal["yaml", "dsl"]) -> list[Comment]:
    """The comments of a source that has parsed without errors, in order."""
    return _dsl_comments(text) if surface == "dsl" else _yaml_comments(text)


def _dsl_comments(text: str) -> list[Comment]:
    from lark.exceptions import LarkError

    from .dsl_lark import parser

    lines = text.splitlines()
    out = []
    try:
        # All of the grammar's terminals at once, not the parser's lexer that knows
        # which ones may come next: enough to tell comments from strings.
        for token in parser().lex(text, dont_ignore=True):
            if token.type == "COMMENT" and token.line is not None and token.column is not None:
                before = lines[token.line - 1][: token.column - 1]
                out.append(Comment(token.line, str(token)[1:].rstrip(), bool(before.strip())))
    except LarkError:
        # Text the parser reads but that one lexer for every context splits otherwise:
        # keep the comments that fill a line, which no string of a flow can look like.
        return [
            Comment(number, line.lstrip()[1:].rstrip(), False)
            for number, line in enumerate(lines, 1)
            if line.lstrip().startswith("#")
        ]
    return out


def _yaml_comments(text: str) -> list[Comment]:
    from . import yaml_loader

    loader = yaml.CSafeLoader if yaml_loader.use_libyaml else yaml.SafeLoader
    # Where each scalar starts and ends: a '#' inside one (a quoted string, a
    # block scalar) is text, not a comment.
    starts: list[tuple[int, int]] = []
    ends: list[tuple[int, int]] = []
    for token in yaml.scan(text, Loader=loader):
        if isinstance(token, yaml.ScalarToken):
            starts.append((token.start_mark.line, token.start_mark.column))
            ends.append((token.end_mark.line, token.end_mark.column))
    out = []
    for number, line in enumerate(text.splitlines()):
        column = line.find("#")
        while column >= 0:
            if column == 0 or line[column - 1] in " \t":
                i = bisect.bisect_right(starts, (number, column)) - 1
                if i < 0 or ends[i] <= (number, column):
                    trailing = bool(line[:column].strip())
                    out.append(Comment(number + 1, line[column + 1 :].rstrip(), trailing))
                    break
            column = line.find("#", column + 1)
    return out


@dataclass(slots=True)
class AttachedComments:
    """Comment texts per anchor (by identity), and what happened to them, for the report."""

    before: dict[int, list[str]] = field(default_factory=dict)
    at_top: list[str] = field(default_factory=list)
    at_end: list[str] = field(default_factory=list)
    in_place: int = 0
    moved: int = 0

    def of(self, *nodes: object) -> list[str]:
        """The comments to write before `nodes` (several when a printer merges them)."""
        return [text for node in nodes for text in self.before.get(id(node), ())]

    def lines(self, pad: str, *nodes: object) -> list[str]:
        return [f"{pad}#{text}" for text in self.of(*nodes)]

    def summary(self) -> str:
        """One line saying what was kept and where, for the command's output."""
        total = self.in_place + self.moved
        if total == 0:
            return "no comments to keep"
        text = f"kept {total} comment{'s' if total != 1 else ''}: {self.in_place} before the node"
        text += " they preceded"
        if self.moved:
            text += (
                f", {self.moved} moved before the declaration holding them "
                "(end-of-line comments, and comments inside schemas, maps or expressions)"
            )
        return text


NO_COMMENTS = AttachedComments()


def attach(comments: list[Comment], flow: ast.Flow, lines: list[str]) -> AttachedComments:
    """Each comment assigned to the anchor it precedes (see the module docstring)."""
    found = AttachedComments()
    anchors = [(node, span) for node, span in _anchors(flow) if span.line >= 1]
    first_line = min([flow.span.line, *(s.line for _, s in anchors)]) if flow.span.line else 1
    last_line = _last_code_line(lines)
    starting: dict[int, object] = {}
    for node, span in anchors:
        starting.setdefault(span.line, node)
    for comment in comments:
        if comment.trailing:
            node = starting.get(comment.line) or _holder(anchors, comment.line)
            if node is None:
                found.at_top.append(comment.text)
            else:
                found.before.setdefault(id(node), []).append(comment.text)
            found.moved += 1
            continue
        following = _next_code_line(lines, comment.line)
        if following is None or following > last_line:
            found.at_end.append(comment.text)
            found.in_place += 1
            continue
        if following <= first_line:
            found.at_top.append(comment.text)
            found.in_place += 1
            continue
        node = starting.get(following)
        if node is not None:
            found.in_place += 1
        else:
            node = _holder(anchors, following) or _next_anchor(anchors, following)
            found.moved += 1
        if node is None:
            found.at_end.append(comment.text)
        else:
            found.before.setdefault(id(node), []).append(comment.text)
    return found


def _next_code_line(lines: list[str], line: int) -> int | None:
    for number in range(line + 1, len(lines) + 1):
        stripped = lines[number - 1].strip()
        if stripped and not stripped.startswith("#"):
            return number
    return None


def _last_code_line(lines: list[str]) -> int:
    for number in range(len(lines), 0, -1):
        stripped = lines[number - 1].strip()
        if stripped and not stripped.startswith("#"):
            return number
    return 0


def _holder(anchors: list[tuple[object, Span]], line: int) -> object | None:
    """The innermost anchor whose span holds `line` past its first line."""
    best: tuple[int, object] | None = None
    for node, span in anchors:
        if span.line < line <= span.end_line and (best is None or span.line >= best[0]):
            best = (span.line, node)
    return best[1] if best else None


def _next_anchor(anchors: list[tuple[object, Span]], line: int) -> object | None:
    later = [(span.line, i) for i, (_, span) in enumerate(anchors) if span.line > line]
    return anchors[min(later)[1]][0] if later else None


def _anchors(flow: ast.Flow) -> Iterator[tuple[object, Span]]:
    """The nodes the printers write on a line of their own, outer before inner."""
    decls: tuple[ast.EventDecl | ast.SignalDecl | ast.EffectDecl | ast.DataField, ...]
    decls = (*flow.events, *flow.signals, *flow.effects, *flow.data)
    for decl in decls:
        yield decl, decl.span
    for state in flow.states:
        yield state, state.span
        for action in (*state.enter, *state.exit):
            yield action, action.span
        for clause in state.on:
            yield clause, clause.span
            yield from _transitions(clause.candidates)
        timers: tuple[ast.AfterTimer | ast.AtTimer, ...] = (*state.after, *state.at)
        for timer in timers:
            yield timer, timer.span
            yield from _transitions(timer.candidates)
        yield from _transitions(state.always)


def _transitions(candidates: tuple[ast.Transition, ...]) -> Iterator[tuple[object, Span]]:
    for transition in candidates:
        yield transition, transition.span
        for action in transition.actions:
            yield action, action.span
        if transition.catch is not None:
            for action in transition.catch.actions:
                yield action, action.span
