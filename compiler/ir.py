"""The IR as data: canonical JSON, the content hash, and validation against the IR schema."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

IR_VERSION = 1
SCHEMA_RESOURCE = "ir.schema.json"


class InvalidIRError(ValueError):
    """The IR does not match specs/ir.schema.json; `errors` lists each problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid IR:\n" + "\n".join(f"  {e}" for e in errors))
        self.errors = errors


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes the hash is computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def ir_hash(ir: Mapping[str, Any]) -> str:
    """`sha256:<hex>` over ir_version, flow, version and definition (never `source`)."""
    hashed = {k: ir[k] for k in ("ir_version", "flow", "version", "definition")}
    return "sha256:" + hashlib.sha256(canonical_json(hashed)).hexdigest()


def dumps(ir: Mapping[str, Any]) -> str:
    """Pretty, stable JSON text for `flowc compile` (author's order, two-space indent)."""
    return json.dumps(ir, indent=2, ensure_ascii=False) + "\n"


def load_schema() -> dict[str, Any]:
    """specs/ir.schema.json, as shipped in the package."""
    from importlib.resources import files

    text = files(__package__ or "flowyard.compiler").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Validator:
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(inline_refs(schema))


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every `#/$defs/` reference to a non-recursive definition written out.

    Validates the same documents; jsonschema then resolves a reference only for the
    recursive definitions (expressions), which makes validation almost twice as fast.
    """
    defs: dict[str, Any] = schema.get("$defs", {})
    prefix = "#/$defs/"

    def refs(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                yield ref.removeprefix(prefix)
            for item in value.values():
                yield from refs(item)
        elif isinstance(value, list):
            for item in value:
                yield from refs(item)

    direct = {name: set(refs(value)) for name, value in defs.items()}

    def recursive(name: str) -> bool:
        seen: set[str] = set()
        todo = list(direct[name])
        while todo:
            here = todo.pop()
            if here == name:
                return True
            if here not in seen and here in direct:
                seen.add(here)
                todo.extend(direct[here])
        return False

    kept = {name for name in defs if recursive(name)}

    def inline(value: Any) -> Any:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                name = ref.removeprefix(prefix)
                if name in defs and name not in kept:
                    rest = {k: v for k, v in value.items() if k != "$ref"}
                    # Keywords beside a $ref apply as well as the target's, not instead.
                    return inline({"allOf": [defs[name], rest]} if rest else defs[name])
            return {k: inline(v) for k, v in value.items()}
        if isinstance(value, list):
            return [inline(v) for v in value]
        return value

    inlined: dict[str, Any] = inline({k: v for k, v in schema.items() if k != "$defs"})
    if kept:
        inlined["$defs"] = {name: inline(defs[name]) for name in sorted(kept)}
    return inlined


def schema_errors(ir: Any) -> list[str]:
    """Every way `ir` breaks the schema, as `pointer: message` lines (empty when valid)."""
    validator = _validator()
    if validator.is_valid(ir):
        return []
    errors = sorted(validator.iter_errors(ir), key=lambda e: e.json_path)
    return [f"{e.json_path}: {e.message}" for e in errors]


def non_finite_numbers(obj: Any, path: str = "$") -> list[str]:
    """Where NaN or an infinity hides in `obj`: JSON cannot carry them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return [f"{path}: {obj} is not a finite number"]
    if isinstance(obj, dict):
        return [e for k, v in obj.items() for e in non_finite_numbers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [e for i, v in enumerate(obj) for e in non_finite_numbers(v, f"{path}[{i}]")]
    return []


def validate_ir(ir: Any) -> None:
    """Raise InvalidIRError unless `ir` matches the schema and its hash is its own."""
    errors = schema_errors(ir) + non_finite_numbers(ir)
    if not errors and ir["hash"] != ir_hash(ir):
        errors.append(f"$.hash: {ir['hash']} is not the hash of this IR ({ir_hash(ir)})")
    if errors:
        raise InvalidIRError(errors)
