"""JSON text from outside, read strictly (RFC 8259).

Python's `json` also reads `NaN`, `Infinity` and numbers too large for a float
(as infinity); none of them can be stored or journaled as JSON, so input that
holds them is malformed, and is refused where it enters.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large for a double")
    return value


def loads(text: str | bytes) -> Any:
    """Parse JSON text; `ValueError` for malformed text, NaN, Infinity, overflowing
    numbers and nesting deeper than Python's recursion allows."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
