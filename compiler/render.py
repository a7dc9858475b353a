"""Diagnostics for people (text with the source line and a caret) and for tools (JSON).

Text is produced as lines of `(text, role)` segments so that the CLI can colour
the roles (through rich, on a terminal) while this module stays free of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from ..dsl.diagnostics import Diagnostic, Severity, normalise

DEFAULT_LIMIT = 50

# Roles the CLI may style: "error", "warning", "location", "gutter", "hint", "more", "summary".
Segment = tuple[str, str | None]
Line = list[Segment]
SourceLookup = Callable[[str], Sequence[str] | None]


def source_lookup(sources: Mapping[str, str] | None = None) -> SourceLookup:
    """Lines of a file: from `sources` when given there, else read from disk (cached)."""
    cache: dict[str, list[str] | None] = {}

    def lines(file: str) -> list[str] | None:
        if file not in cache:
            text = sources.get(file) if sources is not None else None
            if text is None:
                try:
                    text = Path(file).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    text = None
            cache[file] = None if text is None else text.splitlines()
        return cache[file]

    return lines


def render_lines(
    diagnostics: Iterable[Diagnostic],
    *,
    sources: SourceLookup | None = None,
    limit: int | None = DEFAULT_LIMIT,
    with_summary: bool = True,
) -> list[Line]:
    """Sorted, de-duplicated, capped diagnostics with snippets, then a summary line."""
    lookup = sources or source_lookup()
    items = normalise(diagnostics)
    shown = items if limit is None else items[:limit]
    out: list[Line] = []
    for n, d in enumerate(shown):
        if n:
            out.append([])
        out.extend(_render_one(d, lookup))
    if len(items) > len(shown):
        out.append([])
        out.append([(f"... and {len(items) - len(shown)} more", "more")])
    if items and with_summary:
        out.append([])
        out.append([(summary(items), "summary")])
    return out


def render_text(
    diagnostics: Iterable[Diagnostic],
    *,
    sources: SourceLookup | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> str:
    """The plain-text report, newline-terminated (empty when there is nothing to say)."""
    lines = render_lines(diagnostics, sources=sources, limit=limit)
    return "".join("".join(text for text, _ in line) + "\n" for line in lines)


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    """A JSON list of diagnostic objects (file, line, column, ..., hint), newline-terminated."""
    return json.dumps([d.to_json() for d in normalise(diagnostics)], indent=2) + "\n"


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    """`2 errors, 1 warning`; `no problems` when empty."""
    errors = sum(1 for d in diagnostics if d.level is Severity.ERROR)
    warnings = len(diagnostics) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) or "no problems"


def _render_one(d: Diagnostic, lookup: SourceLookup) -> list[Line]:
    span = d.span
    level = str(d.level)
    where = f"{span.file}:{span.line}:{span.column}" if span.line > 0 else span.file
    out: list[Line] = [
        [(where, "location"), (": ", None), (f"{level}[{d.code}]", level), (f": {d.message}", None)]
    ]
    gutter = " " * len(str(max(span.line, 1)))
    lines = lookup(span.file) if span.line > 0 else None
    if lines is not None and span.line <= len(lines):
        text = lines[span.line - 1].rstrip("\r\n")
        start = max(span.column, 1)
        if span.end_line == span.line and span.end_column > start:
            width = span.end_column - start
        else:
            width = len(text) - start + 1
        # Keep tabs so the caret lines up with the source however the terminal renders them.
        pad = "".join(c if c == "\t" else " " for c in text[: start - 1])
        pad += " " * max(0, start - 1 - len(text))
        out.append([(f"{gutter} |", "gutter")])
        out.append([(f"{span.line} | ", "gutter"), (text, None)])
        out.append([(f"{gutter} | ", "gutter"), (pad, None), ("^" * max(1, width), level)])
    if d.hint:
        out.append([(f"{gutter} = ", "gutter"), (f"hint: {d.hint}", "hint")])
    return out
