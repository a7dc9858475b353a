"""Declared JSON Schemas must be valid 2020-12 schemas (FY105); data defaults must fit (FY509)."""

from __future__ import annotations

import difflib
import functools
import json

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ...dsl.ast import JSON, DataField, Flow, JsonPath, SchemaDecl
from ...dsl.diagnostics import Diagnostic
from ...dsl.spans import Span
from ..regex import RE2_HINT, regex_problem
from ..schema_messages import violation_message
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
    return [
        Diagnostic(
            code="FY105",
            message=f"the schema of {owner} is not a valid JSON Schema: {message} "
            f"(at {_where(list(path))})",
            span=span_of(decl.span_at(path), fallback),
            hint=hint,
        )
        for path, message, hint in _schema_errors(json.dumps(decl.schema, sort_keys=True))
    ]


_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_GENERAL_HINT = (
    "fix it following JSON Schema 2020-12, e.g. `type: object` with "
    "`properties: {name: {type: string}}`"
)


@functools.lru_cache(maxsize=256)
def _schema_errors(schema_json: str) -> tuple[tuple[JsonPath, str, str], ...]:
    """Why the schema is not a valid 2020-12 schema: (path, message, hint) per
    problem, in the order they are written.

    Cached by content: flows often declare the same schema many times over, and
    checking one against the metaschema costs milliseconds.
    """
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    schema = json.loads(schema_json)
    found = []
    for error in meta.iter_errors(schema):
        path: JsonPath = tuple(error.path)
        found.append((path, *_explain(path, error)))
    found += _pattern_errors(schema, ())
    return tuple(sorted(found, key=lambda f: [str(p) for p in f[0]]))


_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
"""Keywords whose values are instances, not schemas: never searched for patterns."""


def _pattern_errors(schema: JSON, path: JsonPath) -> list[tuple[JsonPath, str, str]]:
    """A `pattern` or `patternProperties` name RE2 cannot compile (flowd checks
    patterns with RE2, in linear time)."""
    found: list[tuple[JsonPath, str, str]] = []
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            found += _pattern_errors(item, (*path, index))
        return found
    if not isinstance(schema, dict):
        return found
    for name, value in schema.items():
        if name in _DATA_KEYWORDS:
            continue
        where = (*path, name)
        if name == "pattern" and isinstance(value, str):
            reason = regex_problem(value)
            if reason is not None:
                found.append((where, f"the pattern {value!r} is not RE2: {reason}", RE2_HINT))
            continue
        if name == "patternProperties" and isinstance(value, dict):
            for pattern in value:
                reason = regex_problem(pattern)
                if reason is not None:
                    message = f"the pattern {pattern!r} is not RE2: {reason}"
                    found.append(((*where, pattern), message, RE2_HINT))
        found += _pattern_errors(value, where)
    return found


def _explain(path: JsonPath, error: ValidationError) -> tuple[str, str]:
    """The message and hint for one metaschema violation."""
    names = error.instance if isinstance(error.instance, list) else [error.instance]
    unknown = [n for n in names if isinstance(n, str) and n not in _TYPES]
    if path and path[-1] == "type" and unknown:
        guesses = [g for n in unknown for g in difflib.get_close_matches(n, _TYPES, n=1)]
        guess = f"did you mean {' / '.join(repr(g) for g in guesses)}? " if guesses else ""
        return (
            f"{', '.join(repr(n) for n in unknown)} is not a JSON Schema type",
            f"{guess}the types are {', '.join(_TYPES)}",
        )
    return error.message, _GENERAL_HINT


def _default(field: DataField) -> list[Diagnostic]:
    # A field without a default starts as null, so null must fit its schema too.
    default: JSON = field.default if field.has_default else None
    # Formats too: flowd checks them in data after every transition.
    checker = Draft202012Validator(
        field.schema.schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    error: ValidationError | None = next(iter(checker.iter_errors(default)), None)
    if error is None:
        return []
    if field.has_default:
        message = (
            f"the default of data field '{field.name}' does not match its schema: "
            f"{violation_message(error)}"
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
