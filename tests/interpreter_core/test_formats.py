"""`format: duration` by RFC 3339 Appendix A; the other formats as jsonschema checks them."""

from __future__ import annotations

import pytest
from flowyard.interpreter.formats import FORMAT_CHECKER, is_duration
from flowyard.interpreter.program import schema_errors, validator


@pytest.mark.parametrize(
    "text",
    ["P1Y", "P1Y2M", "P1Y2M3D", "P3D", "P2W", "PT30M", "PT1H", "PT1H30M5S", "P1DT12H", "PT0S"],
)
def test_rfc3339_durations_are_valid(text: str) -> None:
    assert is_duration(text)


@pytest.mark.parametrize(
    "text",
    ["P", "PT", "1D", "P1H", "PT1D", "P1W2D", "P1D1Y", "PT30m", "P-1D", "P1.5D", "P1DT", " P1D"],
)
def test_anything_else_is_not(text: str) -> None:
    assert not is_duration(text)


def test_non_strings_are_left_to_type() -> None:
    assert is_duration(5)


def test_validators_use_it_with_the_standard_formats() -> None:
    check = validator({"type": "string", "format": "duration"})
    assert check.is_valid("PT5M") and not check.is_valid("5 minutes")
    assert not validator({"format": "date-time"}).is_valid("yesterday")
    assert {"date-time", "email", "uri", "uuid"} <= set(FORMAT_CHECKER.checkers)


def test_a_failed_format_is_said_in_our_words() -> None:
    from flowyard.interpreter.datacheck import data_problems

    check = validator({"type": "string", "format": "email"})
    assert schema_errors(check, "nobody") == ["'nobody' is not a valid email"]
    nested = validator({"type": "object", "properties": {"at": {"format": "date-time"}}})
    assert schema_errors(nested, {"at": "soon"}) == ["at: 'soon' is not a valid date-time"]
    (problem,) = data_problems({"mail": check}, {"mail": "x"})
    assert str(problem) == "data.mail: 'x' is not a valid email"
