"""JSON text from outside, read strictly (RFC 8259).

Python's `json` also reads `NaN`, `Infinity`, numbers too large for a float
(as infinity), integers of any length and strings with lone surrogates
(`"\ud800"`); none of them can be stored or journaled as JSON (see
`storable`), so input that holds them is malformed, and is refused where it
enters.

Most text is read by orjson, which refuses all of these but one: it reads an
integer beyond 64 bits as a float, losing digits. Text with a run of 19 or
more digits (or anything orjson refuses) is read again by the strict reader
built on `json`, which also says precisely what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

import orjson

from . import storable

_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")


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
    if not _has_long_digits(text):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # read again below, for the reason
        else:
            # orjson refuses lone surrogates itself; nesting is bounded tighter here
            # (shorter text cannot nest deeper: most text is not even counted).
            if len(text) > storable.MAX_DEPTH and _may_nest_deeply(text):
                reason = storable.problem(value, floats=False)
                if reason is not None:
                    raise ValueError(reason)
            return value
    return _strict_loads(text.decode("utf-8") if isinstance(text, bytes) else text)


def _has_long_digits(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return _LONG_DIGITS_BYTES.search(text) is not None
    return _LONG_DIGITS.search(text) is not None


def _strict_loads(text: str) -> Any:
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


def _may_nest_deeply(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{") > storable.MAX_DEPTH
    return text.count("[") + text.count("{") > storable.MAX_DEPTH
