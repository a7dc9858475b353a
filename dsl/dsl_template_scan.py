"""Splitting a template string into literal text and `${ expr }` parts.

Shared by YAML value strings (`"order ${ key } shipped"`) and the DSL's backtick
templates. `$${` is a literal `${`. In backtick templates a backslash escapes the
next character, so `\\$${ x }` is a `$` followed by the value of `x`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Segment:
    """Literal text (escapes not yet applied) or the source of one `${ }` expression."""

    text: str
    offset: int  # where `text` starts in the scanned string
    is_expr: bool


class TemplateError(Exception):
    def __init__(self, message: str, offset: int, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


def has_interpolation(text: str) -> bool:
    """True when `text` holds a `${` that is not escaped as `$${`."""
    return "${" in text.replace("$${", "")


def split_template(text: str, *, backslash: bool) -> list[Segment]:
    """The parts of `text`, in order; adjacent literal text is merged."""
    segments: list[Segment] = []
    buffer: list[str] = []
    buffer_start = 0
    i, n = 0, len(text)

    def flush(at: int) -> None:
        nonlocal buffer_start
        if buffer:
            segments.append(Segment("".join(buffer), buffer_start, False))
            buffer.clear()
        buffer_start = at

    while i < n:
        if backslash and text[i] == "\\" and i + 1 < n:
            buffer.append(text[i : i + 2])
            i += 2
        elif text.startswith("$${", i):
            buffer.append("${")
            i += 3
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise TemplateError(
                    "unclosed '${'",
                    i,
                    "end the expression with '}' (write '$${' for a literal '${')",
                )
            flush(i)
            segments.append(Segment(text[i + 2 : end], i + 2, True))
            i = end + 1
            buffer_start = i
        else:
            buffer.append(text[i])
            i += 1
    flush(n)
    return segments


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` closing a `${` whose expression starts at `start`, or -1."""
    depth = 0
    quote: str | None = None
    j = start
    while j < len(text):
        c = text[j]
        if quote is not None:
            if c == "\\":
                j += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return j
            depth -= 1
        j += 1
    return -1
