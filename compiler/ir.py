"""The IR as data: canonical JSON, the content hash, and validation against the IR schema."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
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
    return Draft202012Validator(schema)


def schema_errors(ir: Any) -> list[str]:
    """Every way `ir` breaks the schema, as `pointer: message` lines (empty when valid)."""
    errors = sorted(_validator().iter_errors(ir), key=lambda e: e.json_path)
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
