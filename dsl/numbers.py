"""Which numbers a flow may hold: what survives JSON, the IR and SQLite unchanged.

SQLite stores integers in signed 64 bits and JSON has no NaN or infinity, so a
literal outside those bounds is rejected where it is written rather than
failing later, far from the author's text.
"""

from __future__ import annotations

import math

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def number_problem(value: object, text: str) -> tuple[str, str] | None:
    """(message, hint) saying why `value`, written as `text`, cannot be a flow's number.

    None when it can, or when it is no number at all.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return (
            f"the integer {_short(text)} does not fit in 64 bits",
            f"write a number between {INT64_MIN} and {INT64_MAX}",
        )
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            message = f"'{text}' (not a number) cannot be stored in JSON"
        elif "inf" in text.lower():
            message = f"'{text}' (infinity) cannot be stored in JSON"
        else:
            return f"the number {_short(text)} is too large", "write a smaller number"
        return message, "write a finite number, or quote it if it is meant as text"
    return None


def _short(digits: str) -> str:
    return digits if len(digits) <= 24 else f"{digits[:10]}...{digits[-6:]} ({len(digits)} digits)"
