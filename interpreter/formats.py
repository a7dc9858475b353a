"""The `format` checkers that payloads and data are validated with.

jsonschema's own for draft 2020-12, except `duration`, checked here against
the `duration` production of RFC 3339 Appendix A (the definition JSON Schema
refers to) instead of through isoduration, whose import (it brings arrow)
costs a quarter of a second at every start of flowd.
"""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator, FormatChecker

_SECONDS = r"\d+S"
_MINUTES = rf"\d+M(?:{_SECONDS})?"
_HOURS = rf"\d+H(?:{_MINUTES})?"
_TIME = rf"T(?:{_HOURS}|{_MINUTES}|{_SECONDS})"
_DAYS = r"\d+D"
_MONTHS = rf"\d+M(?:{_DAYS})?"
_YEARS = rf"\d+Y(?:{_MONTHS})?"
_DATE = rf"(?:{_DAYS}|{_MONTHS}|{_YEARS})(?:{_TIME})?"
_DURATION = re.compile(rf"P(?:{_DATE}|{_TIME}|\d+W)", re.ASCII)

FORMAT_CHECKER = FormatChecker(formats=())
FORMAT_CHECKER.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)


@FORMAT_CHECKER.checks("duration")
def is_duration(value: object) -> bool:
    """RFC 3339 Appendix A: `P1Y2M3DT4H5M6S`, `PT30M`, `P2W`, ... (non-strings pass)."""
    return not isinstance(value, str) or _DURATION.fullmatch(value) is not None
