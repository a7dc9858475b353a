"""Subset matching of JSON values, with a readable account of the first difference.

`expected` matches `actual` when every field written in an expected mapping is
present in the actual one and matches (extra actual fields are fine), lists
have the same length and match item by item, and scalars are equal (`1` equals
`1.0`, but `true` is not `1`).
"""

from __future__ import annotations

import json
from typing import Any


def show(value: Any) -> str:
    """A compact JSON rendering for messages."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


def difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """None when `expected` is a subset of `actual`; else where and how they differ."""
    where = path or "the value"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected a mapping {show(expected)}, found {show(actual)}"
        for name, value in expected.items():
            sub = f"{path}.{name}" if path else str(name)
            if name not in actual:
                return f"{sub}: expected {show(value)}, but the field is missing"
            found = difference(value, actual[name], sub)
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected a list {show(expected)}, found {show(actual)}"
        if len(expected) != len(actual):
            return (
                f"{where}: expected {len(expected)} item(s) {show(expected)}, "
                f"found {len(actual)} {show(actual)}"
            )
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found = difference(want, got, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if not same_scalar(expected, actual):
        return f"{where}: expected {show(expected)}, found {show(actual)}"
    return None


def same_scalar(expected: Any, actual: Any) -> bool:
    """Scalar equality that keeps booleans apart from numbers."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return bool(type(expected) is type(actual) and expected == actual)
