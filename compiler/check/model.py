"""What the explorer needs to know of a flow, computed once from its IR.

Domains of the data fields and of the payload paths each input's transitions
read, the inputs that can start an instance, timers by id, and a concrete base
payload per input (built from its schema, its match and its key) onto which the
samples of a variant are written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .domains import (
    Cell,
    Constants,
    Domain,
    Var,
    build_domain,
    note_expression,
    schema_at,
    subexpressions,
    synthesize,
    var_of,
)

KEY = "k-1"
"""The instance key every trace uses."""

MAX_VARIANTS = 24


@dataclass(frozen=True, slots=True)
class InputModel:
    name: str
    kind: str  # "event" or "signal"
    schema: Any
    base: dict[str, Any]
    delay_ms: int
    keyed: bool  # whether a trace can give this input the instance's key

    def payload_with(self, domains: tuple[Domain, ...], values: tuple[Any, ...]) -> dict[str, Any]:
        payload = self.base
        for domain, value in zip(domains, values, strict=True):
            payload = put_copy(payload, domain.var[2:], value)
        return payload


@dataclass(frozen=True, slots=True)
class Local:
    """An input as one state sees it: cells split at the constants its candidates use."""

    input: InputModel
    domains: tuple[Domain, ...]
    variants: tuple[tuple[int, ...], ...]

    def payload(self, variant: tuple[int, ...]) -> dict[str, Any]:
        values = tuple(d.cells[c].samples[0] for d, c in zip(self.domains, variant, strict=True))
        return self.input.payload_with(self.domains, values)

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
    locals: dict[tuple[str, str], Local]
    # Keyed by the ids of IR nodes, which live as long as this model holds its IR.
    _expr_reads: dict[tuple[tuple[int, ...], str | None], tuple[Var, ...]] = field(
        default_factory=dict, compare=False
    )

    @property
    def definition(self) -> dict[str, Any]:
        d: dict[str, Any] = self.ir["definition"]
        return d

    def state(self, name: str) -> dict[str, Any]:
        s: dict[str, Any] = self.definition["states"][name]
        return s

    def field_index(self, field: str) -> int:
        return self.fields.index(field)

    def local(self, state: str, name: str) -> Local:
        """How state `state` sees input `name`: one variant when it only ignores or defers it
        (nothing reads a deferred payload before the state that takes it, where the
        search branches over that state's variants)."""
        found = self.locals.get((state, name))
        return found if found is not None else Local(self.inputs[name], (), ((),))

    def expression_reads(self, exprs: list[Any], trigger: str | None) -> tuple[Var, ...]:
        """The variables some expressions read directly, sorted (cached per expression list)."""
        key = (tuple(id(e) for e in exprs), trigger)
        cached = self._expr_reads.get(key)
        if cached is None:
            found: set[Var] = set()
            for expr in exprs:
                for sub in subexpressions(expr):
                    var = var_of(sub, trigger)
                    if var is not None:
                        found.add(var)
            cached = self._expr_reads[key] = tuple(sorted(found))
        return cached


def put(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = payload
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def put_copy(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """`payload` with `value` at `path`, copying only the maps on the way."""
    out = dict(payload)
    if len(path) == 1:
        out[path[0]] = value
        return out
    inner = out.get(path[0])
    out[path[0]] = put_copy(inner if isinstance(inner, dict) else {}, path[1:], value)
    return out


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
    decisive = _decisive_fields(definition)
    constants = Constants()
    for name, decl in definition["data"].items():
        constants.add(("data", name), decl["default"])
        for bound in _schema_constants(decl["schema"]):
            constants.add(("data", name), bound)
    for state in definition["states"].values():
        for action in [*state["enter"], *state["exit"]]:
            _note_action(constants, action, None, decisive)
        for t, trigger in transitions_of(state):
            _note_transition(constants, t, trigger, decisive)
        for timer in state["timers"]:
            note_expression(constants, timer.get("time"), None, set())
    fields = tuple(definition["data"])
    items = _for_each_items(definition)
    domains = tuple(
        build_domain(
            ("data", f), definition["data"][f]["schema"], constants.of(("data", f)), items.get(f)
        )
        if f in decisive
        else Domain(("data", f), "any", (Cell("any", (definition["data"][f]["default"],), "any"),))
        for f in fields
    )
    inputs: dict[str, InputModel] = {}
    for kind, table in (("event", definition["events"]), ("signal", definition["signals"])):
        for name, decl in table.items():
            inputs[name] = _input_model(name, kind, decl)
    timers: dict[str, dict[str, Any]] = {}
    locals_: dict[tuple[str, str], Local] = {}
    for sname, state in definition["states"].items():
        for timer in state["timers"]:
            timers[timer["id"]] = timer
        for trigger, candidates in state["on"].items():
            locals_[(sname, trigger)] = _local(inputs[trigger], candidates, constants, decisive)
    return Model(ir, fields, domains, inputs, _starts(definition), timers, locals_)


def _local(
    inp: InputModel, candidates: list[dict[str, Any]], constants: Constants, decisive: set[str]
) -> Local:
    """The cells of an input's payload that one state's candidates tell apart."""
    local = Constants()
    for name in decisive:
        for value in constants.of(("data", name)):
            local.add(("data", name), value)
    reads: set[Var] = set()
    for t in candidates:
        _note_transition(local, t, inp.name, decisive, reads)
    paths = sorted(v for v in reads if v[:2] == ("input", inp.name))
    domains = tuple(build_domain(v, schema_at(inp.schema, v[2:]), local.of(v)) for v in paths)
    cells = [range(len(d.cells)) for d in domains]
    variants = tuple(itertools.islice(itertools.product(*cells), MAX_VARIANTS))
    return Local(inp, domains, variants)


def _note_transition(
    constants: Constants,
    t: dict[str, Any],
    trigger: str | None,
    decisive: set[str],
    reads: set[Var] | None = None,
) -> None:
    seen: set[Var] = set() if reads is None else reads
    note_expression(constants, t["when"], trigger, seen)
    actions = [*t["actions"], *(t["catch"]["actions"] if t["catch"] is not None else [])]
    for action in actions:
        _note_action(constants, action, trigger, decisive, seen)


def _schema_constants(schema: Any) -> list[Any]:
    if not isinstance(schema, dict):
        return []
    out = [schema[k] for k in ("minimum", "maximum") if k in schema]
    return out + list(schema.get("enum") or [])


_BOUNDING = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "const")


def _decisive_fields(definition: dict[str, Any]) -> set[str]:
    """Data fields whose values can decide something: read by a guard, an `at` time or a
    `for_each`, or copied into such a field. Every other field is one cell."""
    # A field whose schema bounds its values decides whether a `set` makes an incident.
    decisive = {
        name
        for name, decl in definition["data"].items()
        if isinstance(decl["schema"], dict) and any(k in decl["schema"] for k in _BOUNDING)
    }
    sets: list[tuple[str, set[str]]] = []
    for state in definition["states"].values():
        exprs: list[Any] = [timer.get("time") for timer in state["timers"]]
        for t, _ in transitions_of(state):
            exprs.append(t["when"])
        for action in _state_actions(state):
            if action["op"] == "call":
                exprs.append(action.get("for_each"))
            else:
                for assign in action["assign"]:
                    sets.append((assign["field"], _data_reads(assign["value"])))
        for expr in exprs:
            decisive |= _data_reads(expr)
    grown = True
    while grown:
        grown = False
        for target, sources in sets:
            if target in decisive and not sources <= decisive:
                decisive |= sources
                grown = True
    return decisive


def _data_reads(expr: Any) -> set[str]:
    out = set()
    for sub in subexpressions(expr):
        var = var_of(sub, None)
        if var is not None and var[0] == "data":
            out.add(var[1])
    return out


def _note_action(
    constants: Constants,
    action: dict[str, Any],
    trigger: str | None,
    decisive: set[str],
    seen: set[Var] | None = None,
) -> None:
    seen = set() if seen is None else seen
    if action["op"] == "set":
        for assign in action["assign"]:
            target: Var = ("data", assign["field"])
            value = assign["value"]
            if value["op"] == "lit":
                constants.add(target, value["value"])
            # What a deciding field is computed from is split where the field is: a copy
            # or a sum reaches the field's cells from matching cells of its sources. A field
            # that decides nothing would only split its sources finer.
            if assign["field"] in decisive:
                for sub in subexpressions(value):
                    source = var_of(sub, trigger)
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
        yield from _state_actions(state)


def _state_actions(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from state["enter"]
    yield from state["exit"]
    for t, _ in transitions_of(state):
        yield from t["actions"]
        if t["catch"] is not None:
            yield from t["catch"]["actions"]


def _starts(definition: dict[str, Any]) -> frozenset[str]:
    initial = definition["states"][definition["initial"]]
    return frozenset([*initial["on"], *initial["defer"]])


def _input_model(name: str, kind: str, decl: dict[str, Any]) -> InputModel:
    schema = decl.get("schema")
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
    return InputModel(name, kind, schema, base, decl.get("delay_ms", 0), keyed)
