"""Data abstracted to cells: each variable's values split at the constants it meets.

A variable is a data field (`("data", field)`) or a path of an input's payload
(`("input", name, *path)`). Its constants come from the guards and `set`s that
compare or assign it against literals, from its default, and from its schema's
enum and bounds; two variables compared or copied into each other share their
constants. Within one cell every comparison against those constants has the same
outcome, so a guard over cells is decided by any member; a guard comparing two
variables is decided by trying a few samples of each (the ends of a range).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .evaluate import equal, is_num

Var = tuple[str, ...]

_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_FAR = 1_000_000
DATE_SAMPLES = ("2026-01-02T00:00:00Z", "2026-03-01T00:00:00Z")


@dataclass(frozen=True, slots=True)
class Cell:
    """One class of values: a label for people and samples (the first represents it)."""

    label: str
    samples: tuple[Any, ...]
    kind: str  # "point", "range", "other", "any", "empty", "nonempty"
    low: float = -math.inf
    high: float = math.inf

    @property
    def exact(self) -> bool:
        return self.kind in ("point", "empty")

    def holds(self, value: Any) -> bool:
        """Whether `value` belongs here (points are tried before this is asked)."""
        if self.kind == "point":
            return equal(value, self.samples[0])
        if self.kind == "range":
            return is_num(value) and bool(self.low < value < self.high)
        if self.kind == "empty":
            return isinstance(value, list) and not value
        if self.kind == "nonempty":
            return isinstance(value, list) and bool(value)
        return True


@dataclass(frozen=True, slots=True)
class Domain:
    var: Var
    type: str
    cells: tuple[Cell, ...]

    def cell_of(self, value: Any) -> int:
        """The index of the cell holding `value`; the last cell when none claims it."""
        for i, cell in enumerate(self.cells):
            if cell.kind == "point" and cell.holds(value):
                return i
        for i, cell in enumerate(self.cells):
            if cell.kind != "point" and cell.holds(value):
                return i
        return len(self.cells) - 1


def schema_type(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if isinstance(t, str):
        return t
    if "enum" in schema:
        return "enum"
    return None


def schema_at(schema: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(schema, dict):
            return None
        schema = (schema.get("properties") or {}).get(part)
    return schema


class Constants:
    """Constants per variable, with variables that meet each other sharing theirs."""

    def __init__(self) -> None:
        self._parent: dict[Var, Var] = {}
        self._values: dict[Var, list[Any]] = {}

    def _root(self, var: Var) -> Var:
        parent = self._parent.setdefault(var, var)
        if parent != var:
            parent = self._parent[var] = self._root(parent)
        return parent

    def add(self, var: Var, value: Any) -> None:
        if isinstance(value, bool | int | float | str):
            values = self._values.setdefault(self._root(var), [])
            if not any(equal(value, v) for v in values):
                values.append(value)

    def join(self, a: Var, b: Var) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra != rb:
            self._parent[rb] = ra
            for value in self._values.pop(rb, []):
                self.add(ra, value)

    def of(self, var: Var) -> list[Any]:
        return list(self._values.get(self._root(var), []))


def var_of(node: Any, trigger: str | None) -> Var | None:
    """The variable an expression reads directly (`data.f`, `event.a.b`), if it is one."""
    path: list[str] = []
    while isinstance(node, dict) and node.get("op") == "field":
        path.append(node["name"])
        node = node["target"]
    if not (isinstance(node, dict) and node.get("op") == "name") or not path:
        return None
    path.reverse()
    if node["name"] == "data" and len(path) == 1:
        return ("data", path[0])
    if node["name"] == "event" and trigger is not None:
        return ("input", trigger, *path)
    return None


def subexpressions(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "op" in node:
            yield node
        for value in node.values():
            yield from subexpressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from subexpressions(value)


def note_expression(constants: Constants, node: Any, trigger: str | None, seen: set[Var]) -> None:
    """Record the constants and joins one expression brings; `seen` gets every variable read."""
    for sub in subexpressions(node):
        var = var_of(sub, trigger)
        if var is not None:
            seen.add(var)
        if sub["op"] != "binary":
            continue
        left, right = var_of(sub["left"], trigger), var_of(sub["right"], trigger)
        operator = sub["operator"]
        if operator in _COMPARISONS:
            if left and right:
                constants.join(left, right)
            elif left and sub["right"]["op"] == "lit":
                constants.add(left, sub["right"]["value"])
            elif right and sub["left"]["op"] == "lit":
                constants.add(right, sub["left"]["value"])
        elif operator == "in" and left and sub["right"]["op"] == "list":
            for item in sub["right"]["items"]:
                if item["op"] == "lit":
                    constants.add(left, item["value"])


def build_domain(var: Var, schema: Any, constants: list[Any], item: Any = None) -> Domain:
    """The cells of one variable from its schema and its constants."""
    kind = schema_type(schema)
    constants = [c for c in constants if _fits(c, schema)]
    if kind is None and constants:
        first = constants[0]
        kind = "boolean" if isinstance(first, bool) else "number" if is_num(first) else "string"
    schema = schema if isinstance(schema, dict) else {}
    if "enum" in schema and isinstance(schema["enum"], list):
        cells = tuple(Cell(_show(v), (v,), "point") for v in schema["enum"])
        return Domain(var, "enum", cells or (Cell("any", (None,), "any"),))
    if kind == "boolean":
        return Domain(var, kind, (Cell("false", (False,), "point"), Cell("true", (True,), "point")))
    if kind in ("number", "integer"):
        return Domain(var, kind, _number_cells(schema, constants, kind == "integer"))
    if kind == "string":
        return Domain(var, kind, _string_cells(schema, constants))
    if kind == "array":
        one = synthesize(schema.get("items")) if "items" in schema else item
        if isinstance(one, dict) and isinstance(item, dict):
            one = {**item, **one}
        return Domain(var, kind, (Cell("[]", ([],), "empty"), Cell("[...]", ([one],), "nonempty")))
    default = schema.get("default", {} if kind == "object" else None)
    return Domain(var, kind or "any", (Cell("any", (default,), "any"),))


def _fits(value: Any, schema: Any) -> bool:
    """Whether a constant can be a value of the variable at all (a payload meets its schema)."""
    from .evaluate import EvalError, parse_stamp
    from .fits import misfit

    if misfit(value, schema) is not None:
        return False
    if isinstance(schema, dict) and schema.get("format") == "date-time":
        try:
            parse_stamp(value)
        except (EvalError, TypeError, AttributeError):
            return False
    return True


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    return str(value)


def _number_cells(schema: dict[str, Any], constants: list[Any], integer: bool) -> tuple[Cell, ...]:
    low: float = -math.inf
    high: float = math.inf
    points = sorted({c for c in constants if is_num(c) and (not integer or float(c).is_integer())})
    lo_incl: Any = schema.get("minimum")
    hi_incl: Any = schema.get("maximum")
    if is_num(lo_incl):
        low = lo_incl
        points = sorted({*points, lo_incl})
    if is_num(schema.get("exclusiveMinimum")):
        low = max(low, schema["exclusiveMinimum"])
    if is_num(hi_incl):
        high = hi_incl
        points = sorted({*points, hi_incl})
    if is_num(schema.get("exclusiveMaximum")):
        high = min(high, schema["exclusiveMaximum"])
    points = [p for p in points if low <= p <= high]
    if integer:
        points = [int(p) for p in points]
    cells: list[Cell] = []
    edges = [low, *points, high]
    for i, point in enumerate([*points, None]):
        a, b = edges[i], edges[i + 1]
        samples = _range_samples(a, b, integer) if a < b else ()
        if samples:
            cells.append(Cell(_range_label(a, b), samples, "range", a, b))
        if point is not None:
            cells.append(Cell(_show(point), (point,), "point"))
    return tuple(cells) or (Cell("any", (0,), "any"),)


def _range_samples(a: float, b: float, integer: bool) -> tuple[Any, ...]:
    step = 1 if integer else 0.5
    if a == -math.inf and b == math.inf:
        return (0, _FAR) if integer else (0.0, float(_FAR))
    if a == -math.inf:
        return (_num(b - step, integer), _num(b - _FAR, integer))
    if b == math.inf:
        return (_num(a + step, integer), _num(a + _FAR, integer))
    if integer:
        first, last = int(a) + 1, int(b) - 1
        if first > last:
            return ()
        return (first,) if first == last else (first, last)
    if b - a <= 2 * step:
        return ((a + b) / 2,)
    return (a + step, b - step)


def _num(value: float, integer: bool) -> Any:
    return int(value) if integer else float(value)


def _range_label(a: float, b: float) -> str:
    if a == -math.inf and b == math.inf:
        return "any number"
    if a == -math.inf:
        return f"< {_show(_tidy(b))}"
    if b == math.inf:
        return f"> {_show(_tidy(a))}"
    return f"between {_show(_tidy(a))} and {_show(_tidy(b))}"


def _tidy(value: float) -> Any:
    return int(value) if float(value).is_integer() else value


def _string_cells(schema: dict[str, Any], constants: list[Any]) -> tuple[Cell, ...]:
    points = [c for c in constants if isinstance(c, str)]
    cells = [Cell(_show(p), (p,), "point") for p in points]
    if schema.get("format") == "date-time":
        others: tuple[Any, ...] = tuple(d for d in DATE_SAMPLES if d not in points)
    else:
        base = "x" if "x" not in points else "other"
        others = (base, base + "-2")
    label = "another string" if points else "any string"
    cells.append(Cell(label, others, "other"))
    return tuple(cells)


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
