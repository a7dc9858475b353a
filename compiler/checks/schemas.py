"""Declared JSON Schemas must be valid 2020-12 schemas (FY105); data defaults must fit (FY509)."""

from __future__ import annotations

import functools
import json

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from ...dsl.ast import JSON, DataField, Flow, SchemaDecl
from ...dsl.diagnostics import Diagnostic
from ...dsl.spans import Span
from .walk import span_of


def check_schemas(flow: Flow) -> list[Diagnostic]:
    """FY105 for every declared schema; FY509 for data defaults that do not fit."""
    out: list[Diagnostic] = []
    for event in flow.events:
        out += _schema(event.schema, f"event {event.name}", span_of(event.name_span, event.span))
    for signal in flow.signals:
        fallback = span_of(signal.name_span, signal.span)
        out += _schema(signal.schema, f"signal {signal.name}", fallback)
    for field in flow.data:
        problems = _schema(
            field.schema, f"data field {field.name}", span_of(field.name_span, field.span)
        )
        out += problems or _default(field)
    return out


def _where(path: object) -> str:
    parts = [str(p) for p in path] if isinstance(path, list | tuple) else []
    return "/".join(parts) if parts else "the top level"


def _schema(decl: SchemaDecl | None, owner: str, fallback: Span) -> list[Diagnostic]:
    if decl is None:
        return []
    exc = _schema_error(json.dumps(decl.schema, sort_keys=True))
    if exc is not None:
        return [
            Diagnostic(
                code="FY105",
                message=f"the schema of {owner} is not a valid JSON Schema: {exc.message} "
                f"(at {_where(list(exc.path))})",
                span=span_of(decl.span, fallback),
                hint="fix it following JSON Schema 2020-12, e.g. `type: object` with "
                "`properties: {name: {type: string}}`",
            )
        ]
    return []


@functools.lru_cache(maxsize=256)
def _schema_error(schema_json: str) -> SchemaError | None:
    """Why the schema is not a valid 2020-12 schema, if it is not.

    Cached by content: flows often declare the same schema many times over, and
    checking one against the metaschema costs milliseconds.
    """
    try:
        Draft202012Validator.check_schema(json.loads(schema_json))
    except SchemaError as exc:
        return exc
    return None


def _default(field: DataField) -> list[Diagnostic]:
    # A field without a default starts as null, so null must fit its schema too.
    default: JSON = field.default if field.has_default else None
    error: ValidationError | None = next(
        iter(Draft202012Validator(field.schema.schema).iter_errors(default)), None
    )
    if error is None:
        return []
    if field.has_default:
        message = (
            f"the default of data field '{field.name}' does not match its schema: {error.message}"
        )
        hint = "change the default or the schema so that they agree"
    else:
        message = (
            f"data field '{field.name}' has no default, so it starts as null, "
            "which its schema does not allow"
        )
        hint = f"give '{field.name}' a default that fits its schema (`default: ...`)"
    return [
        Diagnostic(
            code="FY509",
            message=message,
            span=span_of(field.span, field.name_span),
            hint=hint,
        )
    ]
