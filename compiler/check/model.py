"""What the explorer needs to know of a flow, computed once from its IR.

Domains of the data fields and of the payload paths each input's transitions
read, the inputs that can start an instance, timers by id, and a concrete base
payload per input (built from its schema, its match and its key) onto which the
samples of a variant are written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .domains import (
    DATE_SAMPLES,
    Constants,
    Domain,
    Var,
    build_domain,
    note_expression,
    schema_at,
    schema_type,
    subexpressions,
    var_of,
)

KEY = "k-1"
"""The instance key every trace uses."""

MAX_VARIANTS = 24


@dataclass(frozen=True, slots=True)
class InputModel:
    name: str
    kind: str  # "event" or "signal"
    domains: tuple[Domain, ...]
    base: dict[str, Any]
    delay_ms: int
    variants: tuple[tuple[int, ...], ...]
    keyed: bool  # whether a trace can give this input the instance's key

    def payload(self, samples: tuple[Any, ...]) -> dict[str, Any]:
        import copy

        payload = copy.deepcopy(self.base)
        for domain, value in zip(self.domains, samples, strict=True):
            put(payload, domain.var[2:], value)
        return payload

    def sample_sets(self, variant: tuple[int, ...]) -> list[tuple[Any, ...]]:
        """Sample payload values for one variant (the product of each cell's samples)."""
        choices = [d.cells[c].samples for d, c in zip(self.domains, variant, strict=True)]
        return list(itertools.islice(itertools.product(*choices), 16))

    def describe(self, variant: tuple[int, ...]) -> str:
        parts = [
            f"{'.'.join(d.var[2:])} {d.cells[c].label}"
            for d, c in zip(self.domains, variant, strict=True)
            if len(d.cells) > 1
        ]
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Model:
    ir: dict[str, Any]
    fields: tuple[str, ...]
    domains: tuple[Domain, ...]
    inputs: dict[str, InputModel]
    starts: frozenset[str]
    timers: dict[str, dict[str, Any]]
    timer_state: dict[str, str]

    @property
    def definition(self) -> dict[str, Any]:
        d: dict[str, Any] = self.ir["definition"]
        return d

    def state(self, name: str) -> dict[str, Any]:
        s: dict[str, Any] = self.definition["states"][name]
        return s

    def field_index(self, field: str) -> int:
        return self.fields.index(field)


def put(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = payload
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def transitions_of(state: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every transition of a state with the input name whose payload is `event` in it."""
    for name, candidates in state["on"].items():
        for t in candidates:
            yield t, name
    for timer in state["timers"]:
        for t in timer["candidates"]:
            yield t, None
    for t in state["always"]:
        yield t, None


def build_model(ir: dict[str, Any]) -> Model:
    definition = ir["definition"]
    constants = Constants()
    seen: set[Var] = set()
    for name, field in definition["data"].items():
        constants.add(("data", name), field["default"])
    for state in definition["states"].values():
        for action in [*state["enter"], *state["exit"]]:
            _note_action(constants, action, None, seen)
        for t, trigger in transitions_of(state):
            note_expression(constants, t["when"], trigger, seen)
            for action in t["actions"]:
                _note_action(constants, action, trigger, seen)
            if t["catch"] is not None:
                for action in t["catch"]["actions"]:
                    _note_action(constants, action, trigger, seen)
        for timer in state["timers"]:
            note_expression(constants, timer.get("time"), None, seen)
    fields = tuple(definition["data"])
    items = _for_each_items(definition)
    domains = tuple(
        build_domain(
            ("data", f), definition["data"][f]["schema"], constants.of(("data", f)), items.get(f)
        )
        for f in fields
    )
    starts = _starts(definition)
    inputs: dict[str, InputModel] = {}
    for kind, table in (("event", definition["events"]), ("signal", definition["signals"])):
        for name, decl in table.items():
            inputs[name] = _input_model(name, kind, decl, constants, seen)
    timers: dict[str, dict[str, Any]] = {}
    timer_state: dict[str, str] = {}
    for sname, state in definition["states"].items():
        for timer in state["timers"]:
            timers[timer["id"]] = timer
            timer_state[timer["id"]] = sname
    return Model(ir, fields, domains, inputs, starts, timers, timer_state)


def _note_action(
    constants: Constants, action: dict[str, Any], trigger: str | None, seen: set[Var]
) -> None:
    if action["op"] == "set":
        for assign in action["assign"]:
            target: Var = ("data", assign["field"])
            value = assign["value"]
            if value["op"] == "lit":
                constants.add(target, value["value"])
            source = var_of(value, trigger)
            if source is not None:
                constants.join(target, source)
            note_expression(constants, value, trigger, seen)
    else:
        note_expression(constants, action.get("args"), trigger, seen)
        note_expression(constants, action.get("for_each"), trigger, seen)


def _for_each_items(definition: dict[str, Any]) -> dict[str, Any]:
    """A sample item for each data field a `for_each` walks: the `item.x` fields its args read."""
    items: dict[str, Any] = {}
    for action in _all_actions(definition):
        if action["op"] != "call" or action.get("for_each") is None:
            continue
        var = var_of(action["for_each"], None)
        if var is None:
            continue
        item: dict[str, Any] = {}
        for sub in subexpressions(action.get("args")):
            if sub["op"] == "field" and sub["target"] == {"op": "name", "name": "item"}:
                item[sub["name"]] = "x"
        items[var[1]] = item
    return items


def _all_actions(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in definition["states"].values():
        yield from state["enter"]
        yield from state["exit"]
        for t, _ in transitions_of(state):
            yield from t["actions"]
            if t["catch"] is not None:
                yield from t["catch"]["actions"]


def _starts(definition: dict[str, Any]) -> frozenset[str]:
    initial = definition["states"][definition["initial"]]
    return frozenset([*initial["on"], *initial["defer"]])


def _input_model(
    name: str, kind: str, decl: dict[str, Any], constants: Constants, seen: set[Var]
) -> InputModel:
    schema = decl.get("schema")
    paths = sorted(v for v in seen if v[:2] == ("input", name))
    domains = tuple(build_domain(v, schema_at(schema, v[2:]), constants.of(v)) for v in paths)
    base = synthesize(schema) if isinstance(schema, dict) else {}
    if not isinstance(base, dict):
        base = {}
    for entry in decl.get("match") or []:
        put(base, tuple(entry["path"]), entry["values"][0])
    keyed = True
    key = decl.get("key")
    if kind == "event":
        key_var = var_of(key, name) if key is not None else None
        if key_var is not None:
            put(base, key_var[2:], KEY)
        else:
            keyed = False
    cells = [range(len(d.cells)) for d in domains]
    variants = tuple(itertools.islice(itertools.product(*cells), MAX_VARIANTS))
    return InputModel(name, kind, domains, base, decl.get("delay_ms", 0), variants, keyed)


def synthesize(schema: Any) -> Any:
    """A small value that satisfies a JSON Schema (the common keywords)."""
    if not isinstance(schema, dict):
        return "x"
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema_type(schema)
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {p: synthesize(props.get(p)) for p in schema.get("required", [])}
    if kind == "array":
        return [synthesize(schema.get("items")) for _ in range(schema.get("minItems", 0))]
    if kind in ("number", "integer"):
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + 1
        return min(0, schema.get("maximum", 0))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "string":
        if schema.get("format") == "date-time":
            return DATE_SAMPLES[0]
        return "x" * max(1, schema.get("minLength", 1))
    return "x"
