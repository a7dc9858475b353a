"""Can this JSON value be stored, and is it within bounds: the one check every ingress calls.

The store keeps JSON as UTF-8 text. Three things valid in a parsed JSON value
(or computed by an expression) cannot be written that way, and each would make
the commit holding it fail, again on every retry:

- a string (or object key) with a lone surrogate (`"\\ud800"` is valid JSON
  text, but no UTF-8 encodes it);
- an integer too large to write as text (Python refuses to print one of more
  than 4300 digits; flowd keeps integers below 2**`MAX_INT_BITS`, about 1000
  digits, so that sums and products of stored integers stay printable);
- a float that is NaN or infinite (JSON has neither).

`problem(value)` names the first such thing and where it is, or says None.
An ingress (HTTP, `--events`, Kafka) refuses input with a problem (400 or a
dead letter with the reason); a value computed inside a step (expressions,
effect results) makes the instance an incident instead, so no input can make
a key fail its commit and retry forever.

`Bounds` holds the size limits (`flowd run --max-...`); `refusal` checks a
value against `problem` and a size limit at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

MAX_INT_BITS = 3320
"""Integers must be below 2**3320 in magnitude (about 10**999)."""

INT_LIMIT = 1 << MAX_INT_BITS
MAX_INT_DIGITS = 999
"""The longest integer literal JSON input may hold (digits, sign not counted)."""

MAX_DEPTH = 200
"""How deeply arrays and objects may nest."""

MAX_TEXT_CHARS = 4000
"""How long a diagnostic text (an effect's error message) is kept."""

# For `isinstance` on hot paths: an inline `A | B` builds a union on every call.
_SEQUENCES = (list, tuple)
_MAY_HOLD_FLOATS = (float, list, dict)

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounds:
    """Size limits on input and on what an instance keeps (`flowd run` options)."""

    max_body_bytes: int = 8 * 1024 * 1024
    """An HTTP request body (413 beyond)."""
    max_events_per_request: int = 10_000
    """Events in one `POST /events` request (413 beyond)."""
    max_result_bytes: int = 1024 * 1024
    """An effect's result or a callback's body, as JSON text."""
    max_data_bytes: int = 4 * 1024 * 1024
    """An instance's data, as JSON text, after each step."""


def problem(value: Any, *, floats: bool = True) -> str | None:
    """Why `value` cannot be stored as JSON text, or None if it can.

    A fast path (orjson) takes plain values; only what it refuses, or what
    holds floats it would write as null, is walked to say why. `floats=False`
    skips the walk for NaN and infinities, for values made where those are
    refused already (expressions fail on a non-finite result).
    """
    try:
        orjson.dumps(value)
    except TypeError:
        return _walk(value, "", 0)
    except orjson.JSONEncodeError as exc:  # pragma: no cover - a subclass of TypeError
        return str(exc)
    return _walk_floats(value, "", 0) if floats and _may_hold_floats(value) else None


def refusal(
    value: Any, limit: int, what: str, *, option: str = "", floats: bool = True
) -> str | None:
    """Why `value` (`what`) cannot be kept: `problem`, or more than `limit`
    bytes of JSON (`option` names the setting), with one encoding of the value
    in the common case (the per-step check's cost)."""
    try:
        size = len(orjson.dumps(value))
    except TypeError:
        found = problem(value, floats=floats)
        if found is not None:
            return found
        size = encoded_size(value)
    else:
        if floats and _may_hold_floats(value):
            found = _walk_floats(value, "", 0)
            if found is not None:
                return found
    if size <= limit:
        return None
    setting = f" ({option})" if option else ""
    return f"{what} is {size:,} bytes of JSON, more than the limit of {limit:,}{setting}"


def encoded_size(value: Any) -> int:
    """Bytes of `value` as compact JSON text (storable values only)."""
    try:
        return len(orjson.dumps(value))
    except TypeError:  # integers beyond 64 bits: measured by the standard encoder
        import json

        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def may_hold_surrogates(text: str) -> bool:
    """Whether JSON `text` escapes a surrogate (`\\ud800`); text read as UTF-8
    cannot hold one otherwise, so text without such an escape needs no walk."""
    return "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` made storable: lone surrogates escaped as `\\udXXX`, cut at `limit`
    characters. For diagnostics (error messages) that must be kept as they come."""
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text) - limit:,} more characters)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _where(path: str) -> str:
    return f" at {path}" if path else ""


def _string_problem(text: str, path: str, what: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return (
            f"{what}{_where(path)} holds a lone surrogate (U+{code:04X}), "
            "which UTF-8 cannot encode; send text as valid Unicode"
        )
    return None


def _walk(value: Any, path: str, depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"the value nests arrays and objects deeper than {MAX_DEPTH} levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if -INT_LIMIT < value < INT_LIMIT:
            return None
        return (
            f"the integer{_where(path)} has about {int(value.bit_length() * 0.30103) + 1:,} "
            f"digits; integers must be below 2**{MAX_INT_BITS} (about 10**999)"
        )
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"the number{_where(path)} is {value}, which JSON cannot hold"
    if isinstance(value, str):
        return _string_problem(value, path, "the text")
    if isinstance(value, _SEQUENCES):
        for index, item in enumerate(value):
            found = _walk(item, f"{path}/{index}", depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                return f"the object{_where(path)} has a key that is not a string: {name!r}"
            found = _string_problem(name, path, "an object key") or _walk(
                item, f"{path}/{_escape(name)}", depth + 1
            )
            if found is not None:
                return found
        return None
    return f"the value{_where(path)} is a {type(value).__name__}, which is not JSON"


def _may_hold_floats(value: Any) -> bool:
    return isinstance(value, _MAY_HOLD_FLOATS)


def _walk_floats(value: Any, path: str, depth: int) -> str | None:
    """NaN and infinities, which orjson writes as null rather than refusing."""
    if isinstance(value, float):
        return None if math.isfinite(value) else _walk(value, path, depth)
    if depth > MAX_DEPTH:
        return f"the value nests arrays and objects deeper than {MAX_DEPTH} levels"
    if isinstance(value, list):
        for index, item in enumerate(value):
            if _may_hold_floats(item):
                found = _walk_floats(item, f"{path}/{index}", depth + 1)
                if found is not None:
                    return found
    elif isinstance(value, dict):
        for name, item in value.items():
            if _may_hold_floats(item):
                found = _walk_floats(item, f"{path}/{_escape(str(name))}", depth + 1)
                if found is not None:
                    return found
    return None


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")
