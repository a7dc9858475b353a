"""Whether a value fits a data field's schema: the keywords a `set` can break.

A subset of JSON Schema (type, enum, const, bounds, string length, required
properties); enough to say that a `set` may leave its field's schema, which the
interpreter's data check would turn into an incident.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .evaluate import equal, is_num

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": is_num,
    "integer": lambda v: is_num(v) and float(v).is_integer(),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def misfit(value: Any, schema: Any) -> str | None:
    """Why `value` breaks `schema`, or None when it fits (as far as these keywords go)."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES.get(k, _anything)(value) for k in kinds):
            return f"is not of type {' or '.join(kinds)}"
    if "enum" in schema and not any(equal(value, e) for e in schema["enum"]):
        return f"is not one of {schema['enum']}"
    if "const" in schema and not equal(value, schema["const"]):
        return f"is not {schema['const']!r}"
    if is_num(value):
        for word in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            bound = schema.get(word)
            if is_num(bound) and _breaks(word, value, bound):
                return f"breaks {word} {bound}"
    if isinstance(value, str):
        if is_num(schema.get("minLength")) and len(value) < schema["minLength"]:
            return f"is shorter than {schema['minLength']}"
        if is_num(schema.get("maxLength")) and len(value) > schema["maxLength"]:
            return f"is longer than {schema['maxLength']}"
    if isinstance(value, dict):
        missing = [r for r in schema.get("required", []) if r not in value]
        if missing:
            return f"lacks {', '.join(missing)}"
    return None


def _anything(_value: Any) -> bool:
    return True


def _breaks(word: str, value: float, bound: float) -> bool:
    if word == "minimum":
        return value < bound
    if word == "maximum":
        return value > bound
    if word == "exclusiveMinimum":
        return value <= bound
    return value >= bound
