"""The static types of the expression language.

A deliberately small system: `dyn` stands for "not known statically" and is
compatible with everything, so one unknown never cascades into many errors.
Integers and doubles mix freely; both are "numbers" to the people reading
messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Prim:
    """A scalar type: dyn, null, bool, int, double, string, timestamp or duration."""

    name: str


DYN = Prim("dyn")
NULL = Prim("null")
BOOL = Prim("bool")
INT = Prim("int")
DOUBLE = Prim("double")
STRING = Prim("string")
TIMESTAMP = Prim("timestamp")
DURATION = Prim("duration")


@dataclass(frozen=True, slots=True)
class ListType:
    """A list whose items are all of type `element`."""

    element: Type


@dataclass(frozen=True, slots=True)
class MapType:
    """A map from strings to one value type (headers, env)."""

    value: Type


@dataclass(frozen=True, slots=True)
class ObjectType:
    """A map whose fields are (partly) declared, as a JSON Schema object describes it.

    `additional` is the type of undeclared fields, or None when none may exist.
    `origin` names where the type comes from, for messages ("the payload of
    OrderPlaced"); `unknown_code` is the diagnostic for reading an undeclared field.
    """

    properties: tuple[tuple[str, Type], ...] = ()
    additional: Type | None = DYN
    origin: str = "a map"
    unknown_code: str = "FY403"

    def field(self, name: str) -> Type | None:
        for key, value in self.properties:
            if key == name:
                return value
        return None

    def names(self) -> list[str]:
        return [key for key, _ in self.properties]


Type: TypeAlias = Prim | ListType | MapType | ObjectType

ANY_MAP = ObjectType()


def is_dyn(t: Type) -> bool:
    """Whether `t` is unknown statically (and so compatible with everything)."""
    return t == DYN


def is_number(t: Type) -> bool:
    """Whether `t` is an integer or a double."""
    return t in (INT, DOUBLE)


def is_mapping(t: Type) -> bool:
    """Whether `t` is a map or an object (something with fields)."""
    return isinstance(t, MapType | ObjectType)


def category(t: Type) -> str:
    """The word people use for the kind of value: number, string, list, map, ..."""
    if is_number(t):
        return "number"
    if isinstance(t, ListType):
        return "list"
    if isinstance(t, MapType | ObjectType):
        return "map"
    if t == BOOL:
        return "boolean"
    assert isinstance(t, Prim)
    return t.name


_ARTICLED = {
    "int": "an integer",
    "double": "a number",
    "bool": "a boolean",
    "string": "a string",
    "null": "null",
    "timestamp": "a timestamp",
    "duration": "a duration",
    "dyn": "a value of unknown type",
}


def describe(t: Type) -> str:
    """`t` as a phrase in a sentence: "a number", "a list of strings"."""
    if isinstance(t, ListType):
        if is_dyn(t.element):
            return "a list"
        return f"a list of {_plural(t.element)}"
    if isinstance(t, MapType | ObjectType):
        return "a map"
    return _ARTICLED.get(t.name, t.name)


def _plural(t: Type) -> str:
    if isinstance(t, ListType):
        return "lists"
    if isinstance(t, MapType | ObjectType):
        return "maps"
    return {"int": "integers", "double": "numbers", "bool": "booleans", "null": "nulls"}.get(
        t.name, t.name + "s"
    )


def display(t: Type) -> str:
    """A compact spelling of `t`: `list[string]`, `map[string, int]`, `{a: int, ...}`."""
    if isinstance(t, ListType):
        return f"list[{display(t.element)}]"
    if isinstance(t, MapType):
        return f"map[string, {display(t.value)}]"
    if isinstance(t, ObjectType):
        fields = [f"{k}: {display(v)}" for k, v in t.properties]
        if t.additional is not None:
            fields.append("...")
        return "{" + ", ".join(fields) + "}"
    return t.name


def element_type(t: Type) -> Type:
    """What iterating `t` gives: the element of a list, else dyn."""
    return t.element if isinstance(t, ListType) else DYN


def field_type(t: MapType | ObjectType, name: str) -> Type | None:
    """The type of `t.name`; None when `t` declares its fields and `name` is not one."""
    if isinstance(t, MapType):
        return t.value
    declared = t.field(name)
    if declared is not None:
        return declared
    if not t.properties:
        return t.additional if t.additional is not None else DYN
    return None


def join(a: Type, b: Type) -> Type:
    """The type of a value that is either `a` or `b` (branches of `?:`, list items)."""
    if a == b:
        return a
    if a == NULL:
        return b
    if b == NULL:
        return a
    if is_number(a) and is_number(b):
        return DOUBLE
    if isinstance(a, ListType) and isinstance(b, ListType):
        return ListType(join(a.element, b.element))
    if is_mapping(a) and is_mapping(b):
        return ANY_MAP
    return DYN


def comparable(a: Type, b: Type) -> bool:
    """Whether `a == b` can ever be true without a type error."""
    if is_dyn(a) or is_dyn(b) or NULL in (a, b):
        return True
    return category(a) == category(b)


def orderable(a: Type, b: Type) -> bool:
    """Whether `a < b` is defined."""
    if is_dyn(a) or is_dyn(b):
        return category(a if is_dyn(b) else b) in (
            "number",
            "string",
            "timestamp",
            "duration",
            "dyn",
        )
    return category(a) == category(b) and category(a) in (
        "number",
        "string",
        "timestamp",
        "duration",
    )


def assignable(value: Type, target: Type) -> bool:
    """Whether a value of type `value` can be stored where `target` is expected.

    Lenient on purpose: only clear conflicts (a string into an integer field) fail.
    """
    if is_dyn(value) or is_dyn(target) or value == NULL:
        return True
    if is_number(target):
        return value == INT if target == INT else is_number(value)
    if isinstance(target, ListType):
        return isinstance(value, ListType) and assignable(value.element, target.element)
    if isinstance(target, MapType | ObjectType):
        return isinstance(value, MapType | ObjectType)
    return value == target
