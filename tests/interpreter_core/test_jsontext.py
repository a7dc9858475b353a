"""Strict JSON text: what Python's json reads but JSON cannot carry is refused."""

from __future__ import annotations

import pytest
from flowyard.interpreter import jsontext


def test_json_values_parse_as_usual() -> None:
    assert jsontext.loads('{"a": [1, 2.5, -3e2, "x", true, null]}') == {
        "a": [1, 2.5, -300.0, "x", True, None]
    }
    assert jsontext.loads(b"1.7976931348623157e308") == 1.7976931348623157e308


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"a": NaN}', "NaN is not JSON"),
        ("[Infinity]", "Infinity is not JSON"),
        ("-Infinity", "-Infinity is not JSON"),
        ("1e400", "the number 1e400 is too large for a double"),
        ('{"a": -2e999}', "too large"),
    ],
)
def test_non_finite_numbers_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        jsontext.loads(text)


def test_nesting_beyond_the_recursion_limit_is_malformed() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        jsontext.loads("[" * 100_000 + "]" * 100_000)
