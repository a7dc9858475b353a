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


@pytest.mark.parametrize(
    "digits",
    [
        "9223372036854775807",
        "-9223372036854775809",
        "18446744073709551616",
        "1" + "0" * 40,
        "-" + "9" * 999,
    ],
)
def test_integers_beyond_64_bits_keep_every_digit(digits: str) -> None:
    # orjson would read these as floats; the strict reader keeps them exact.
    assert jsontext.loads(f'{{"n": {digits}}}') == {"n": int(digits)}
    assert jsontext.loads(f"[{digits}]".encode()) == [int(digits)]


def test_an_integer_of_more_than_999_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="1,000 digits is too large"):
        jsontext.loads("1" * 1000)


@pytest.mark.parametrize("text", ['"\\ud800"', b'{"a": ["x\\udfff"]}'])
def test_lone_surrogates_are_refused_from_text_and_bytes(text: str | bytes) -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        jsontext.loads(text)


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(UnicodeDecodeError):
        jsontext.loads(b'{"a": "\xff"}')


@pytest.mark.parametrize("text", ["[" * 300 + "]" * 300, b"[" * 1000 + b"]" * 1000])
def test_deep_nesting_below_the_recursion_limit_is_refused(text: str | bytes) -> None:
    assert jsontext.loads("[" * 200 + "]" * 200) is not None
    with pytest.raises(ValueError, match="deeper than 200 levels"):
        jsontext.loads(text)
