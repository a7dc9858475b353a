"""JSON text from outside, read strictly (RFC 8259).

Python's `json` also reads `NaN`, `Infinity`, numbers too large for a float
(as infinity), integers of any length and strings with lone surrogates
(`"\ud800"`); none of them can be stored or journaled as JSON (see
`storable`), so input that holds them is malformed, and is refused where it
enters.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from . import storable


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large for a double")
    return value


def _bounded_int(text: str) -> int:
    if len(text) - text.startswith("-") > storable.MAX_INT_DIGITS:
        raise ValueError(
            f"an integer of {len(text):,} digits is too large to store "
            f"(at most {storable.MAX_INT_DIGITS} digits)"
        )
    return int(text)


def loads(text: str | bytes) -> Any:
    """Parse JSON text; `ValueError` for malformed text, NaN, Infinity, overflowing
    numbers, integers too long to store, lone surrogates and nesting deeper than
    `storable.MAX_DEPTH`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded_int
        )
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if storable.may_hold_surrogates(text) or _may_nest_deeply(text):
        reason = storable.problem(value, floats=False)
        if reason is not None:
            raise ValueError(reason)
    return value


def _may_nest_deeply(text: str) -> bool:
    return len(text) > storable.MAX_DEPTH and (
        text.count("[") + text.count("{") > storable.MAX_DEPTH
    )
