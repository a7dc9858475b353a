"""Diagnostics: a registry of stable codes and the record every stage reports with.

The registry is the single source of truth for codes; docs/diagnostics.md lists
the same codes and a test keeps the two in step.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .spans import Span


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    severity: Severity
    title: str


def _c(code: str, severity: Severity, title: str) -> Code:
    return Code(code, severity, title)


E, W = Severity.ERROR, Severity.WARNING

CODES: dict[str, Code] = {
    c.code: c
    for c in [
        # FY0xx: reading and parsing
        _c("FY001", E, "cannot read the input"),
        _c("FY002", E, "YAML syntax error"),
        _c("FY003", E, "duplicate key in a YAML mapping"),
        _c("FY004", E, "DSL syntax error"),
        _c("FY005", E, "expression syntax error"),
        _c("FY006", E, "unsupported YAML feature (anchor, tag or non-string key)"),
        # FY1xx: structure (the YAML surface's JSON Schema, and its DSL equivalent)
        _c("FY101", E, "unknown key"),
        _c("FY102", E, "value has the wrong type"),
        _c("FY103", E, "required key is missing"),
        _c("FY104", E, "invalid value"),
        _c("FY105", E, "invalid JSON Schema in a declaration"),
        # FY2xx: names
        _c("FY201", E, "duplicate name"),
        _c("FY202", E, "unknown state"),
        _c("FY203", E, "initial state is missing or unknown"),
        _c("FY204", E, "unknown event or signal"),
        _c("FY205", E, "unknown effect"),
        _c("FY206", E, "unknown data field"),
        _c("FY207", E, "defer of an event the flow does not declare"),
        _c("FY208", E, "result bound to an undeclared data field"),
        # FY3xx: state-machine structure
        _c("FY301", E, "transition out of a final state"),
        _c("FY302", W, "unreachable state"),
        _c("FY303", W, "non-final state with no way out"),
        _c("FY304", W, "unguarded transition shadows later candidates"),
        _c("FY305", E, "cycle of 'always' transitions without a guard"),
        _c("FY306", W, "event is both handled and deferred in one state"),
        _c("FY307", W, "declared but never used"),
        # FY4xx: expressions
        _c("FY401", E, "name not in scope"),
        _c("FY402", E, "type mismatch"),
        _c("FY403", W, "field not declared in the schema"),
        _c("FY404", E, "unknown function or wrong arguments"),
        _c("FY405", E, "invalid regular expression"),
        _c("FY406", E, "guard is not a boolean"),
        _c("FY407", E, "misspelt field: close to a declared field"),
        _c("FY408", W, "env name not set where flowc runs"),
        # FY5xx: actions, effects, time
        _c("FY501", E, "invalid duration"),
        _c("FY502", E, "invalid retry policy"),
        _c("FY503", E, "for_each needs a list"),
        _c("FY504", E, "invalid concurrency"),
        _c("FY505", E, "effect template uses a name not in scope"),
        _c("FY506", E, "invalid effect definition"),
        _c("FY507", E, "invalid event delay or match"),
        _c("FY508", W, "value may not match the data field's schema"),
        _c("FY509", E, "data field's default does not fit its schema"),
        _c("FY510", W, "python effect not found where flowc runs"),
        # FY6xx: `flowc check`, findings of the exploration (docs/check.md)
        _c("FY601", W, "event arrives where it is neither handled nor deferred"),
        _c("FY602", E, "no final state can be reached (dead end or livelock)"),
        _c("FY603", W, "a wait on signals with no timeout and no other exit"),
        _c("FY604", W, "no guard holds for an input that arrives"),
        _c("FY605", W, "guards of two candidates can hold together"),
        _c("FY606", W, "candidate shadowed by earlier ones"),
        _c("FY607", W, "transition never taken"),
        _c("FY608", W, "state never entered"),
        _c("FY609", E, "'always' transitions can loop"),
        _c("FY610", W, "instance completes with work left"),
        _c("FY611", W, "deferred event never consumed"),
        _c("FY612", E, "a 'set' can leave its field's schema"),
    ]
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    hint: str | None = None
    severity: Severity | None = None

    @property
    def level(self) -> Severity:
        return self.severity or CODES[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.level is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "code": self.code,
            "severity": str(self.level),
            "message": self.message,
            "hint": self.hint,
        }


def normalise(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by position, exact duplicates removed."""
    seen: set[tuple[str, str, Span]] = set()
    out: list[Diagnostic] = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        k = (d.code, d.message, d.span)
        if k not in seen:
            seen.add(k)
            out.append(d)
    return out


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt name, if one is close enough."""
    import difflib

    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, previous2[j - 2] + 1)
            current.append(best)
        previous2, previous = previous, current
    return previous[-1]


def misspelling_of(name: str, candidates: Iterable[str]) -> str | None:
    """The declared name `name` is almost certainly a misspelling of, if any.

    Close means at most two edits, and fewer than half the shorter name's length,
    so short names (`id`, `n`) are never taken for each other.
    """
    best: tuple[int, str] | None = None
    for candidate in candidates:
        distance = edit_distance(name, candidate)
        close = distance <= 2 and 2 * distance < min(len(name), len(candidate))
        if close and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None
