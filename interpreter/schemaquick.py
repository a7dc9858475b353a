"""Quick, conservative JSON Schema checks for the hot path.

`quick_check(schema)` compiles the common subset of JSON Schema (types,
properties, required, items, enum/const of scalars, numeric bounds, string
lengths and patterns) into a plain predicate that answers "surely valid".
It never claims an invalid value valid; when it answers False (or a schema
uses anything outside the subset, and there is no predicate at all) the caller
asks the full Draft 2020-12 validator, which also writes the messages.
Validating an event or a data field with jsonschema costs tens of
microseconds; the predicate costs about one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from . import regex

Quick = Callable[[Any], bool]
"""True only when the value is valid; False means "ask the full validator"."""

# Keywords that never affect validity.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)

_TYPES: dict[str, frozenset[type]] = {
    "null": frozenset({type(None)}),
    "boolean": frozenset({bool}),
    # 1.0 is an integer to JSON Schema; the full validator decides those.
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "string": frozenset({str}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
}
"""The Python types (exactly: `type(v) in ...`) of the values of each JSON Schema type."""

_SCALARS = (str, int, float, bool, type(None))


def _is_number(v: Any) -> bool:
    return type(v) is int or type(v) is float


def quick_check(schema: Any) -> Quick | None:
    """A "surely valid" predicate for `schema`, or None when it uses keywords
    outside the quick subset."""
    if schema is True or schema == {}:
        return _always
    if not isinstance(schema, Mapping):
        return None
    checks: list[Quick] = []
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword in ("properties", "additionalProperties", "required", "items"):
            continue  # compiled below, together
        if keyword == "type" and value == "object":
            continue  # checked by the object check too
        build = _KEYWORDS.get(keyword)
        if build is None:
            return None
        check = build(value)
        if check is None:
            return None
        checks.append(check)
    structure = _object_check(schema)
    if structure is None:
        return None
    if structure is not _always:
        checks.append(structure)
    items = _items_check(schema)
    if items is None:
        return None
    if items is not _always:
        checks.append(items)
    return _all(checks)


def _always(_: Any) -> bool:
    return True


def _all(checks: list[Quick]) -> Quick:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    # Loops, not `all(...)` over a generator, here and in `_object_check`: they run
    # for every event and data field, and a generator costs more than the checks.
    def every(v: Any) -> bool:
        for check in frozen:  # noqa: SIM110
            if not check(v):
                return False
        return True

    return every


def _type(value: Any) -> Quick | None:
    allowed = _types(value)
    if allowed is None:
        return None
    return lambda v: type(v) in allowed


def _types(value: Any) -> frozenset[type] | None:
    """The Python types the `type` keyword's `value` allows, or None if it is not one."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(n in _TYPES for n in names):
        return None
    return frozenset().union(*(_TYPES[n] for n in names))


def _only_types(schema: Any) -> frozenset[type] | None:
    """The types `schema` allows when `type` is all it checks (most properties' schemas)."""
    if not isinstance(schema, Mapping) or "type" not in schema:
        return None
    if any(keyword != "type" and keyword not in _ANNOTATIONS for keyword in schema):
        return None
    return _types(schema["type"])


def _enum(values: Any) -> Quick | None:
    if not isinstance(values, list) or not all(isinstance(e, _SCALARS) for e in values):
        return None
    if any(isinstance(e, float) and not math.isfinite(e) for e in values):
        return None
    # Compare type and value, so True never passes for 1 (JSON Schema tells them apart).
    allowed = frozenset((type(e), e) for e in values)
    return lambda v: isinstance(v, _SCALARS) and (type(v), v) in allowed


def _const(value: Any) -> Quick | None:
    return _enum([value])


def _bound(compare: Callable[[Any, Any], bool]) -> Callable[[Any], Quick | None]:
    def build(limit: Any) -> Quick | None:
        if not _is_number(limit):
            return None
        return lambda v: not _is_number(v) or compare(v, limit)

    return build


def _size(
    of: type[str] | type[list[Any]], compare: Callable[[int, int], bool]
) -> Callable[[Any], Quick | None]:
    """A bound on the length of a string or the item count of a list (`of` says which)."""

    def build(limit: Any) -> Quick | None:
        if type(limit) is not int:
            return None
        return lambda v: type(v) is not of or compare(len(v), limit)

    return build


def _pattern(value: Any) -> Quick | None:
    if not isinstance(value, str):
        return None
    try:
        compiled = regex.compile_regex(value)
    except regex.RegexError:
        return None
    return lambda v: type(v) is not str or compiled.search(v) is not None


_KEYWORDS: dict[str, Callable[[Any], Quick | None]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "minimum": _bound(lambda v, limit: v >= limit),
    "maximum": _bound(lambda v, limit: v <= limit),
    "exclusiveMinimum": _bound(lambda v, limit: v > limit),
    "exclusiveMaximum": _bound(lambda v, limit: v < limit),
    "minLength": _size(str, lambda n, limit: n >= limit),
    "maxLength": _size(str, lambda n, limit: n <= limit),
    "minItems": _size(list, lambda n, limit: n >= limit),
    "maxItems": _size(list, lambda n, limit: n <= limit),
    "pattern": _pattern,
}


def _object_check(schema: Mapping[str, Any]) -> Quick | None:
    """`type: object`, `required`, `properties` and `additionalProperties`, in one
    check (each property whose schema only names types tested in it, without a call)."""
    objects_only = schema.get("type") == "object"
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    required = schema.get("required", [])
    if not isinstance(properties, Mapping):
        return None
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        return None
    typed: list[tuple[str, frozenset[type]]] = []
    compiled: dict[str, Quick] = {}
    for name, sub in properties.items():
        allowed = _only_types(sub)
        if allowed is not None:
            typed.append((name, allowed))
            continue
        prop_check = quick_check(sub)
        if prop_check is None:
            return None
        if prop_check is not _always:
            compiled[name] = prop_check
    extra_check: Quick | None
    if extra is True:
        extra_check = None
    elif extra is False:
        extra_check = _never
    else:
        extra_check = quick_check(extra)
        if extra_check is None:
            return None
    if not objects_only and not required and not typed and not compiled and extra_check is None:
        return _always
    declared = frozenset(properties)
    wanted = tuple(required)
    types = tuple(typed)
    props = tuple(compiled.items())

    # Loops, not `all(...)` over a generator (see `_all`).
    def check(v: Any) -> bool:
        if type(v) is not dict:
            return not objects_only
        for name in wanted:
            if name not in v:
                return False
        for name, allowed in types:
            if name in v and type(v[name]) not in allowed:
                return False
        for name, sub in props:
            if name in v and not sub(v[name]):
                return False
        if extra_check is not None:
            for name, item in v.items():
                if name not in declared and not extra_check(item):
                    return False
        return True

    return check


def _never(_: Any) -> bool:
    return False


def _items_check(schema: Mapping[str, Any]) -> Quick | None:
    if "items" not in schema:
        return _always
    sub = quick_check(schema["items"])
    if sub is None:
        return None
    if sub is _always:
        return _always
    return lambda v: type(v) is not list or all(sub(item) for item in v)
