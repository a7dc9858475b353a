"""Which regular expressions flowd can run: RE2 syntax, matched in linear time.

flowd matches `matches()` patterns and schema `pattern`s with RE2, which has
no back-references and no lookaround; such a pattern is refused here, where
it is written, rather than when an input first meets it.
"""

from __future__ import annotations

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own line to stderr for each bad pattern

RE2_HINT = (
    "patterns use RE2 syntax (linear time): no back-references like \\1, no lookaround "
    "like (?=...) or (?<!...); backslashes must be doubled inside quotes"
)


def regex_problem(pattern: str) -> str | None:
    """Why RE2 cannot compile `pattern`, or None if it can."""
    try:
        re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return None
