"""Durations: `500ms`, `30s`, `5m`, `2h`, `1d`, combinations (`1h30m`) and ISO 8601 (`PT30M`).

    parse_duration("1h30m") == 5_400_000
    format_duration(90_000) == "1m30s"

ISO 8601 durations may use weeks, days, hours, minutes and seconds (`P1W`,
`P1DT2H`, `PT0.5S`); years and months have no fixed length and are rejected.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_NUMBER = r"(\d+(?:\.\d+)?)"
_SIMPLE = re.compile(
    rf"(?:{_NUMBER}d)?(?:{_NUMBER}h)?(?:{_NUMBER}m(?!s))?(?:{_NUMBER}s)?(?:{_NUMBER}ms)?\Z"
)
_ISO = re.compile(
    rf"P(?:{_NUMBER}W)?(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?\Z"
)
_ISO_MS = (604_800_000, 86_400_000, 3_600_000, 60_000, 1_000)


def _total(groups: tuple[str | None, ...], units: tuple[int, ...]) -> int | None:
    if all(g is None for g in groups):
        return None
    total = Decimal(0)
    try:
        for amount, unit in zip(groups, units, strict=True):
            if amount is not None:
                total += Decimal(amount) * unit
    except InvalidOperation:
        return None
    if total != total.to_integral_value():
        return None  # finer than a millisecond
    return int(total)


def parse_duration(text: str) -> int | None:
    """The duration `text` in milliseconds, or None when it is not a valid duration."""
    if not text or not text.isascii():
        return None
    if text.startswith("P"):
        iso = _ISO.match(text)
        if iso is None or text.endswith("T"):
            return None
        return _total(iso.groups(), _ISO_MS)
    simple = _SIMPLE.match(text)
    if simple is None:
        return None
    return _total(simple.groups(), tuple(_UNIT_MS.values()))


def format_duration(millis: int) -> str:
    """The shortest canonical text for `millis` (90000 -> "1m30s", 0 -> "0s")."""
    if millis < 0:
        raise ValueError("durations are not negative")
    if millis == 0:
        return "0s"
    parts: list[str] = []
    rest = millis
    for unit, size in _UNIT_MS.items():
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


_WORDS = {
    "ms": "ms", "msec": "ms", "msecs": "ms", "millis": "ms", "millisecond": "ms",
    "milliseconds": "ms", "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m", "h": "h", "hr": "h",
    "hrs": "h", "hour": "h", "hours": "h", "d": "d", "day": "d", "days": "d",
}  # fmt: skip
_SPELLED = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*")


def suggest_duration(text: object) -> str | None:
    """What a mistyped duration probably meant: `5 minutes` -> `5m`, `30` -> `30s`."""
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return f"{text}s"
    if not isinstance(text, str):
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text.strip()):
        return f"{text.strip()}s"
    parts: list[str] = []
    rest = text.replace(",", " ").replace(" and ", " ")
    pos = 0
    while pos < len(rest):
        m = _SPELLED.match(rest, pos)
        if m is None or m.group(2).lower() not in _WORDS:
            return None
        parts.append(m.group(1) + _WORDS[m.group(2).lower()])
        pos = m.end()
    guess = "".join(parts)
    return guess if parts and parse_duration(guess) is not None else None


def duration_hint(text: str) -> str:
    """The hint for an invalid duration: the likely fix when there is one."""
    guess = suggest_duration(text)
    usual = "500ms, 30s, 5m, 2h, 1d, 1h30m or PT30M"
    return (
        f"did you mean '{guess}'? (a duration is like {usual})"
        if guess
        else f"write a duration like {usual}"
    )
