"""Indentation mistakes, told in our words and on the line that was moved.

YAML notices a line indented wrongly only where the structure stops making
sense, which is often the line after the one that moved (`catch:` after a
`goto:` moved two spaces left), and says so in a parser's words ("mapping
values are not allowed", "did not find expected '-' indicator"). These
functions look at the lines around the parser's position and, when the
picture is clear, name the moved line, what it is misaligned with, and the
column to move it to. When it is not clear they return None and the
parser's own (explained) message stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .spans import Span

# `key: value`, `key:`, or `- key: ...`: the key and whether a value follows on the line.
_KEY_LINE = re.compile(
    r"^(?P<indent> *)(?P<dash>-[ ]+)?(?P<key>[A-Za-z_][\w.-]*|\"[^\"]*\"|'[^']*')[ ]*:(?:[ ]+|$)"
    r"(?P<value>.*)$"
)


@dataclass(frozen=True, slots=True)
class KeyLine:
    number: int  # 1-based
    key: str
    column: int  # 0-based column of the key
    dash: int | None  # 0-based column of a list item's '-', if the line starts an item
    has_value: bool  # a value follows the ':' on the same line (the line opens no block)


def key_line(lines: list[str], number: int) -> KeyLine | None:
    """The key written on 1-based line `number`, if the line is `key: ...` or `- key: ...`."""
    if not 1 <= number <= len(lines):
        return None
    m = _KEY_LINE.match(lines[number - 1])
    if m is None:
        return None
    indent = len(m.group("indent"))
    dash = m.group("dash")
    value = m.group("value").split(" #", 1)[0].strip()
    return KeyLine(
        number=number,
        key=m.group("key").strip("\"'"),
        column=indent + len(dash or ""),
        dash=indent if dash else None,
        has_value=bool(value) and not value.startswith("#"),
    )


def _content_lines_above(lines: list[str], number: int) -> list[int]:
    """1-based numbers of the lines above `number` that hold something, nearest first."""
    out = []
    for n in range(number - 1, 0, -1):
        stripped = lines[n - 1].strip()
        if stripped and not stripped.startswith("#"):
            out.append(n)
    return out


def indentation_mistake(
    lines: list[str],
    error_line: int,
    file: str,
    *,
    problem: str,
    context: str | None,
    context_line: int | None,
) -> tuple[str, str, Span] | None:
    """(message, hint, span) for a YAML error that a misindented line explains, else None.

    `problem` and `context` are the parser's words (libyaml's or pyyaml's: both
    are recognised), `context_line` the 1-based line its context mark is on.
    """
    if "mapping values are not allowed" in problem:
        return moved_left(lines, error_line, file)
    if context == "while parsing a block collection" and context_line is not None:
        return at_list_column(lines, error_line, context_line, file)
    return None


def moved_left(lines: list[str], error_line: int, file: str) -> tuple[str, str, Span] | None:
    """A `key: value` line moved left, found from the deeper key YAML then stumbles on.

    The line before the error line holds a value (it opens no block), yet the
    error line is deeper; if a key above it stands at the error line's column,
    that key and the error line are siblings and the line between them moved.
    """
    after = key_line(lines, error_line)
    above = _content_lines_above(lines, error_line)
    if after is None or after.dash is not None or not above:
        return None
    moved = key_line(lines, above[0])
    if moved is None or moved.dash is not None or not moved.has_value:
        return None
    if moved.column >= after.column:
        return None
    for n in above[1:]:
        line = lines[n - 1]
        if len(line) - len(line.lstrip(" ")) > after.column:
            continue
        sibling = key_line(lines, n)
        if sibling is None or sibling.column != after.column:
            return None
        message = (
            f"'{moved.key}' is indented less than the keys around it "
            f"('{sibling.key}' on line {sibling.number} and '{after.key}' on line "
            f"{after.number} are at column {after.column + 1})"
        )
        hint = f"indent '{moved.key}' to column {after.column + 1}, like '{sibling.key}'"
        span = Span.point(file, moved.number, moved.column + 1, len(moved.key))
        return message, hint, span
    return None


def at_list_column(
    lines: list[str], error_line: int, list_line: int, file: str
) -> tuple[str, str, Span] | None:
    """A key written at the column of a list's '- ' marks, after the list's items.

    It is neither an item (no '- ') nor part of the item above (it is not as
    deep as the item's keys); it most likely belongs to the mapping that holds
    the list, or to the item above: the hint names both columns.
    """
    stray = key_line(lines, error_line)
    first = key_line(lines, list_line)
    if stray is None or stray.dash is not None or first is None or first.dash is None:
        return None
    if stray.column != first.dash:
        return None
    item = next(
        (
            k
            for n in _content_lines_above(lines, error_line)
            if n >= list_line and (k := key_line(lines, n)) is not None and k.dash == first.dash
        ),
        first,
    )
    owner = next(
        (
            k
            for n in _content_lines_above(lines, list_line)
            if (k := key_line(lines, n)) is not None and k.column < first.dash
        ),
        None,
    )
    message = (
        f"'{stray.key}' is at the column of the list's '- ' marks (the list starts on "
        f"line {list_line}), so it is neither a new item nor part of the item above"
    )
    to_item = (
        f"indent it to column {item.column + 1} to make it part of the item on line {item.number}"
    )
    if owner is None:
        hint = f"{to_item}, or start it with '- ' to make it an item"
    else:
        hint = (
            f"indent it to column {owner.column + 1}, like '{owner.key}' on line "
            f"{owner.number}, to put it beside the list; or {to_item}"
        )
    span = Span.point(file, stray.number, stray.column + 1, len(stray.key))
    return message, hint, span
