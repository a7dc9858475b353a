"""Regular expressions in linear time: `matches()` and JSON Schema `pattern`.

Python's `re` backtracks, so a pattern like `^(a+)+$` takes time doubling
with each character of a hostile input, and holds the event loop meanwhile.
RE2 (google-re2) matches in time linear in the input; it has no
back-references and no lookaround, which `flowc` refuses at compile time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own line to stderr for each bad pattern


class RegexError(ValueError):
    """A pattern RE2 cannot compile (bad syntax, a back-reference, lookaround)."""


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Any:
    """The compiled RE2 pattern; raises `RegexError` with RE2's reason."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(
            f"{reason} (patterns use RE2 syntax: no back-references or lookaround)"
        ) from None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text`, as `re.search` does."""
    return compile_regex(pattern).search(text) is not None
