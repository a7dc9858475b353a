"""JSON Schema (2020-12) -> the static type of the values it accepts.

Only what the type checker can use is read: `type`, `properties`,
`additionalProperties`, `items`, `enum` and `const`. Anything it cannot express
(`$ref`, `anyOf`, a type that is one of several kinds) becomes `dyn`, which the
checker accepts everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..dsl.ast import JSON
from .typecheck.types import (
    BOOL,
    DOUBLE,
    DYN,
    INT,
    NULL,
    STRING,
    ListType,
    ObjectType,
    Type,
    join,
)

_SIMPLE: dict[str, Type] = {
    "string": STRING,
    "integer": INT,
    "number": DOUBLE,
    "boolean": BOOL,
    "null": NULL,
}


def schema_type(schema: JSON, *, origin: str = "the schema") -> Type:
    """The static type of values valid against `schema`; `dyn` when it cannot tell.

    `origin` names the schema in messages about undeclared fields.
    """
    if not isinstance(schema, Mapping):
        return DYN
    declared = schema.get("type")
    if isinstance(declared, list):
        kinds = [k for k in declared if isinstance(k, str) and k != "null"]
        # A nullable field is typed as its non-null kind: null is compatible anyway.
        declared = kinds[0] if len(kinds) == 1 else None
    if isinstance(declared, str):
        return _typed(declared, schema, origin)
    if "properties" in schema or "additionalProperties" in schema:
        return _object(schema, origin)
    if "items" in schema:
        return ListType(schema_type(schema.get("items"), origin=origin))
    return _from_values(schema)


def _typed(kind: str, schema: Mapping[str, JSON], origin: str) -> Type:
    if kind == "object":
        return _object(schema, origin)
    if kind == "array":
        items = schema.get("items")
        return ListType(schema_type(items, origin=origin) if items is not None else DYN)
    return _SIMPLE.get(kind, DYN)


def _object(schema: Mapping[str, JSON], origin: str) -> ObjectType:
    raw = schema.get("properties")
    properties: list[tuple[str, Type]] = []
    if isinstance(raw, Mapping):
        for name, sub in raw.items():
            properties.append((str(name), schema_type(sub, origin=f"{origin}, field {name}")))
    extra = schema.get("additionalProperties", True)
    additional: Type | None
    if extra is False:
        additional = None
    elif isinstance(extra, Mapping):
        additional = schema_type(extra, origin=origin)
    else:
        additional = DYN
    return ObjectType(tuple(properties), additional, origin)


def _from_values(schema: Mapping[str, JSON]) -> Type:
    values: list[JSON] = []
    if "const" in schema:
        values.append(schema["const"])
    enum = schema.get("enum")
    if isinstance(enum, list):
        values.extend(enum)
    if not values:
        return DYN
    result: Type | None = None
    for value in values:
        t = value_type(value)
        result = t if result is None else join(result, t)
    return result if result is not None else DYN


def value_type(value: JSON) -> Type:
    """The static type of a JSON value (a default, a literal in a schema)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, str):
        return STRING
    if isinstance(value, list):
        element: Type = DYN
        for i, item in enumerate(value):
            element = value_type(item) if i == 0 else join(element, value_type(item))
        return ListType(element)
    return ObjectType(tuple((k, value_type(v)) for k, v in value.items()), DYN, "a map")
