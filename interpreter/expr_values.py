"""Runtime values of the expression language beyond plain JSON: timestamps and durations.

Both are millisecond integers in a small frozen wrapper, so they compare, hash and
do arithmetic exactly. Also here: RFC 3339 and duration parsing/formatting, the
conversion of any value to text (templates, `string()`) and back to JSON (when a
value is stored in data or sent to an effect), and CEL-like equality.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .immutable import immutable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

# For `isinstance` on hot paths: an inline `A | B` builds a union on every call.
_SCALARS = (bool, int, str)
_SEQUENCES = (list, tuple)
_NUMBERS = (int, float)


class ConversionError(Exception):
    """A value could not be parsed or converted; expr.py turns it into an ExprError."""


@immutable(order=True)
class Timestamp:
    """A point in time, in milliseconds since the Unix epoch (UTC)."""

    ms: int

    def __str__(self) -> str:
        return format_timestamp(self)


@immutable(order=True)
class Duration:
    """A signed span of time in milliseconds."""

    ms: int

    def __str__(self) -> str:
        return format_duration(self)


# ---------------------------------------------------------------- timestamps


def parse_timestamp(text: str) -> Timestamp:
    """Parse an RFC 3339 timestamp (an offset or `Z` is required)."""
    candidate = text.strip()
    if len(candidate) < 20 or candidate[10] not in "Tt ":
        raise ConversionError(f"not an RFC 3339 timestamp: {text!r}")
    try:
        parsed = datetime.fromisoformat(candidate.replace("z", "Z"))
    except ValueError:
        raise ConversionError(f"not an RFC 3339 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        raise ConversionError(f"timestamp {text!r} needs a UTC offset or 'Z'")
    return Timestamp((parsed - _EPOCH) // _ONE_MS)


def format_timestamp(ts: Timestamp) -> str:
    """RFC 3339 in UTC with a `Z`; milliseconds only when not zero."""
    try:
        moment = _EPOCH + timedelta(milliseconds=ts.ms)
    except OverflowError:
        raise ConversionError(f"timestamp out of range ({ts.ms} ms since the epoch)") from None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = ts.ms % 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


# ---------------------------------------------------------------- durations

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_SHORT_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_SHORT = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_ISO = re.compile(
    r"P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
_ISO_MS = {"w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}


def parse_duration(text: str) -> Duration:
    """Parse `500ms`, `30s`, `5m`, `2h`, `1d` (or sums like `1h30m`) and ISO 8601 `PT30M`."""
    body = text.strip()
    sign = 1
    if body.startswith("-"):
        sign, body = -1, body[1:]
    if _SHORT.fullmatch(body):
        total = sum(float(n) * _UNIT_MS[u] for n, u in _SHORT_PART.findall(body))
        return Duration(sign * round(total))
    iso = _ISO.fullmatch(body.upper())
    if iso and body.upper() not in ("P", "PT") and not body.upper().endswith("T"):
        total = sum(float(v) * _ISO_MS[k] for k, v in iso.groupdict().items() if v is not None)
        return Duration(sign * round(total))
    raise ConversionError(
        f"not a duration: {text!r} (use 500ms, 30s, 5m, 2h, 1d or ISO 8601 like PT30M)"
    )


def format_duration(d: Duration) -> str:
    """Seconds with a `s` suffix, as CEL prints durations (`90s`, `1.5s`)."""
    seconds, millis = divmod(abs(d.ms), 1000)
    sign = "-" if d.ms < 0 else ""
    if millis:
        return f"{sign}{seconds}.{millis:03d}".rstrip("0") + "s"
    return f"{sign}{seconds}s"


# ---------------------------------------------------------------- conversions


def type_name(value: Any) -> str:
    """The expression-language name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _SEQUENCES):
        return "list"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, Duration):
        return "duration"
    return type(value).__name__


def to_text(value: Any) -> str:
    """How a value reads inside a template or through `string()`."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError(f"{value} has no text form")
        return repr(value)
    if isinstance(value, Timestamp):
        return format_timestamp(value)
    if isinstance(value, Duration):
        return format_duration(value)
    return json.dumps(to_json_value(value), separators=(",", ":"), ensure_ascii=False)


def to_json_value(value: Any) -> Any:
    """A plain JSON copy of a value: timestamps become RFC 3339, durations `90s`."""
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError(f"{value} cannot be stored as JSON")
        return value
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, _SEQUENCES):
        return [to_json_value(v) for v in value]
    if isinstance(value, Timestamp):
        return format_timestamp(value)
    if isinstance(value, Duration):
        return format_duration(value)
    raise ConversionError(f"a {type_name(value)} cannot be stored as JSON")


def equal(a: Any, b: Any) -> bool:
    """CEL-like equality: numbers compare by value, bools are not numbers, deep for containers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS):
        return a == b
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    return bool(a == b)
