"""Which root names an expression may use where it is written, and their types.

Every place an expression can appear (a guard in an `on` handler, a timer, an
event's key, an effect template) gets a `Scope`. Names deliberately left out
carry a hint saying why, so "not in scope" messages can tell people what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...dsl.ast import Flow
from .types import (
    DYN,
    INT,
    STRING,
    TIMESTAMP,
    MapType,
    ObjectType,
    Type,
)

ROOT_NAMES = ("event", "data", "key", "state", "meta", "now", "env", "item", "args", "callback")

META = ObjectType(
    (
        ("topic", STRING),
        ("partition", INT),
        ("offset", INT),
        ("timestamp", TIMESTAMP),
        ("headers", MapType(STRING)),
    ),
    None,
    "meta",
)
ENV = MapType(STRING)
CALLBACK = ObjectType((("url", STRING), ("token", STRING)), None, "callback")

_EFFECT_ONLY = "`args` and `callback` are only in scope inside an effect's definition"
_ITEM = "`item` is only in scope in the `with:` of a call that has `for_each`"


@dataclass(frozen=True, slots=True)
class Scope:
    """The names in scope at one place, and hints for the names that are not.

    `where` completes "not in scope in ..." (e.g. "a timer"); `code` is the
    diagnostic for an out-of-scope name (FY401, or FY505 in effect templates).
    """

    names: Mapping[str, Type]
    unavailable: Mapping[str, str] = field(default_factory=dict)
    where: str = "this expression"
    code: str = "FY401"

    def with_item(self, item: Type) -> Scope:
        names = dict(self.names)
        names["item"] = item
        unavailable = {k: v for k, v in self.unavailable.items() if k != "item"}
        return Scope(names, unavailable, self.where, self.code)


@dataclass(frozen=True, slots=True)
class FlowTypes:
    """The static types a flow's declarations give: data, and each trigger's payload."""

    data: ObjectType
    triggers: Mapping[str, Type]
    data_fields: Mapping[str, Type]

    @classmethod
    def of(cls, flow: Flow) -> FlowTypes:
        # Imported here: jsonschema_types builds on this package's types module.
        from ..jsonschema_types import schema_type

        data_fields: dict[str, Type] = {}
        for f in flow.data:
            data_fields.setdefault(f.name, schema_type(f.schema.schema, origin=f"data.{f.name}"))
        data = ObjectType(tuple(data_fields.items()), None, "the flow's data", "FY206")
        triggers: dict[str, Type] = {}
        for e in flow.events:
            origin = f"the payload schema of event {e.name}"
            triggers.setdefault(
                e.name, schema_type(e.schema.schema, origin=origin) if e.schema else DYN
            )
        for s in flow.signals:
            origin = f"the payload schema of signal {s.name}"
            triggers.setdefault(
                s.name, schema_type(s.schema.schema, origin=origin) if s.schema else DYN
            )
        return cls(data, triggers, data_fields)


def state_scope(types: FlowTypes, *, where: str, trigger: str | None = None) -> Scope:
    """Scope inside a state: guards and actions of `on`, timers, `always`, `enter`, `exit`.

    `trigger` is the event or signal an `on` handler reacts to; without it
    `event` is not in scope.
    """
    names: dict[str, Type] = {
        "data": types.data,
        "key": STRING,
        "state": STRING,
        "meta": META,
        "now": TIMESTAMP,
        "env": ENV,
    }
    unavailable = {"item": _ITEM, "args": _EFFECT_ONLY, "callback": _EFFECT_ONLY}
    if trigger is not None:
        names["event"] = types.triggers.get(trigger, DYN)
    else:
        unavailable["event"] = (
            "`event` is only in scope in `on` handlers; "
            "store what you need in `data` when the event arrives"
        )
    return Scope(names, unavailable, where)


def key_scope(payload: Type, *, where: str) -> Scope:
    """Scope of an event's or signal's `key` expression: the input alone."""
    reason = "the key is computed from the input alone, before the instance is known"
    return Scope(
        {"event": payload, "meta": META, "now": TIMESTAMP, "env": ENV},
        {
            "data": reason,
            "key": reason,
            "state": reason,
            "item": _ITEM,
            "args": _EFFECT_ONLY,
            "callback": _EFFECT_ONLY,
        },
        where,
    )


def effect_scope(*, effect: str, has_callback: bool) -> Scope:
    """Scope of an effect's templates (url, headers, body, emit key and value)."""
    names: dict[str, Type] = {"args": DYN, "key": STRING, "env": ENV}
    pass_it = (
        "effects see only args, key and env: pass it in the call's `with:` and use `args.<name>`"
    )
    unavailable = {n: pass_it for n in ("event", "data", "state", "meta", "now", "item")}
    if has_callback:
        names["callback"] = CALLBACK
    else:
        unavailable["callback"] = (
            f"add `callback: {{timeout: ...}}` to effect {effect} to complete it by callback"
        )
    return Scope(names, unavailable, f"effect {effect}", "FY505")
