"""Checks a composed `.flow.yaml` tree against specs/flow.schema.json.

jsonschema finds the problems; this module turns each one into a diagnostic that
points at the key or value the author wrote (unknown keys at the key, wrong types
at the value) and says it in the author's terms, never in schema internals. For
`oneOf` failures it picks the alternative the author evidently meant.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .diagnostics import Diagnostic, did_you_mean
from .durations import suggest_duration
from .spans import Span
from .yaml_loader import YMap, YNode, YSeq


@functools.cache
def flow_schema() -> dict[str, Any]:
    """The YAML surface's JSON Schema (specs/flow.schema.json), parsed once."""
    text = resources.files(__package__).joinpath("flow.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    # The schema has no recursive references, so inlining them all up front spares
    # jsonschema a reference lookup per node (it validates about 2.5x faster).
    schema = flow_schema()
    defs: dict[str, Any] = schema["$defs"]

    def inline(value: Any) -> Any:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = defs[ref.removeprefix("#/$defs/")]
                value = {**target, **{k: v for k, v in value.items() if k != "$ref"}}
            return {k: inline(v) for k, v in value.items()}
        if isinstance(value, list):
            return [inline(v) for v in value]
        return value

    return Draft202012Validator(inline({k: v for k, v in schema.items() if k != "$defs"}))


def validate_tree(root: YNode) -> list[Diagnostic]:
    """Diagnostics for every way `root` departs from the flow schema, one per problem."""
    validator = _validator()
    if validator.is_valid(root.value):
        return []
    explainer = _Explainer(root)
    found: list[_Found] = []
    for error in validator.iter_errors(root.value):
        found.extend(explainer.explain(error))
    return list(dict.fromkeys(_drop_echoes(found)))


@dataclass(frozen=True, slots=True)
class _Found:
    diagnostic: Diagnostic
    node: int  # id() of the mapping the problem is in, to relate problems
    missing: tuple[str, ...] = ()  # required keys reported missing
    suggested: str | None = None  # the key an unknown key probably meant
    wrong_type: bool = False  # then nothing else about this node is worth saying


def _drop_echoes(found: list[_Found]) -> list[Diagnostic]:
    """One problem, one diagnostic.

    A misspelt required key is reported as an unknown key, not also as a missing
    one; a value of the wrong type is reported as that, not also as lacking keys.
    """
    suggested = {(f.node, f.suggested) for f in found if f.suggested}
    mistyped = {f.node for f in found if f.wrong_type}
    return [
        f.diagnostic
        for f in found
        if not any((f.node, key) in suggested for key in f.missing)
        and (f.wrong_type or f.node not in mistyped)
    ]


class _Located:
    """A node reached by a JSON path, with the key span it was reached by."""

    __slots__ = ("key", "key_span", "node")

    def __init__(self, node: YNode, key: str | int | None, key_span: Span | None) -> None:
        self.node = node
        self.key = key
        self.key_span = key_span

    @property
    def head(self) -> Span:
        """Where to point for a problem with the whole node: its key, else its start."""
        if self.key_span is not None:
            return self.key_span
        node = self.node
        if isinstance(node, YMap) and node.entries:
            return node.entries[0][0].span
        return Span.point(node.span.file, node.span.line, node.span.column)


def _locate(root: YNode, path: Iterable[str | int]) -> _Located:
    here = _Located(root, None, None)
    for step in path:
        node = here.node
        if isinstance(node, YMap) and isinstance(step, str) and step in node.index:
            key, value = node.index[step]
            here = _Located(value, step, key.span)
        elif isinstance(node, YSeq) and isinstance(step, int) and step < len(node.items):
            here = _Located(node.items[step], step, None)
        else:
            break
    return here


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _type_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _expected(types: object) -> str:
    names = [types] if isinstance(types, str) else list(types) if isinstance(types, list) else []
    words = [_TYPE_NAMES.get(str(t), str(t)) for t in names]
    return " or ".join(words) if words else "another type"


def _noun(schema: Mapping[str, Any]) -> str:
    if "$id" in schema:  # the root schema: the flow file's top level
        return "the flow"
    title = str(schema.get("title", "mapping")).lower()
    return ("an " if title[:1] in "aeiou" else "a ") + title


def _show(value: object) -> str:
    """A value as the author would write it in YAML (`{goto: paid}`), cut short if long."""
    if isinstance(value, str):
        text = value
    else:
        from .yaml_printer import format_inline  # only on the error path

        text = format_inline(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _example(schema: Mapping[str, Any]) -> str | None:
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        shown = _show(examples[0])
        # A mapping cut short helps nobody; say what is expected instead.
        return None if shown.endswith("...") and not isinstance(examples[0], str) else shown
    return None


class _Explainer:
    def __init__(self, root: YNode) -> None:
        self.root = root

    def found(
        self,
        code: str,
        message: str,
        span: Span,
        hint: str | None,
        node: YNode,
        *,
        missing: tuple[str, ...] = (),
        suggested: str | None = None,
    ) -> _Found:
        diagnostic = Diagnostic(code=code, message=message, span=span, hint=hint)
        return _Found(diagnostic, id(node), missing, suggested, wrong_type=code == "FY102")

    def explain(self, error: ValidationError) -> Iterator[_Found]:
        where = _locate(self.root, error.absolute_path)
        kind = error.validator
        # The validator runs on the inlined schema, so `error.schema` already carries the
        # referring property's title and examples (`goto`'s, not the shared `name`'s).
        schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
        if "propertyNames" in error.relative_schema_path:
            yield from self.bad_key(error, where, schema)
        elif kind == "additionalProperties" and error.validator_value is False:
            yield from self.unknown_keys(where, schema)
        elif kind == "required":
            yield from self.missing_keys(error, where, schema)
        elif kind == "type":
            yield self.wrong_type(error, where, schema)
        elif kind in ("oneOf", "anyOf"):
            yield from self.alternatives(error, where, schema)
        elif kind == "dependentRequired":
            yield from self.dependencies(error, where, schema)
        else:
            yield self.bad_value(error, where, schema)

    # ------------------------------------------------------------ keys

    def bad_key(
        self, error: ValidationError, where: _Located, schema: Mapping[str, Any]
    ) -> Iterator[_Found]:
        name = error.instance
        node = where.node
        span = where.head
        if isinstance(node, YMap) and isinstance(name, str) and name in node.index:
            span = node.index[name][0].span
        is_duration = schema.get("title") == "Duration"
        what = "duration" if is_duration else "name"
        misplaced = (
            _misplaced_key(_Located(node, name, span))
            if is_duration and isinstance(name, str)
            else None
        )
        if misplaced is not None:
            yield self.found("FY102", *misplaced, node)
            return
        reason = schema.get("errorMessage") or error.message
        yield self.found(
            "FY501" if is_duration else "FY104",
            f"invalid {what} '{_show(name)}'",
            span,
            _pattern_hint(schema, name, str(reason)),
            node,
        )

    def unknown_keys(self, where: _Located, schema: Mapping[str, Any]) -> Iterator[_Found]:
        node = where.node
        if not isinstance(node, YMap):
            return
        allowed = list(schema.get("properties", {}))
        for key, _ in node.entries:
            name = str(key.value)
            if name in allowed:
                continue
            guess = did_you_mean(name, allowed)
            hint = (
                f"did you mean '{guess}'?" if guess else "allowed keys here: " + ", ".join(allowed)
            )
            yield self.found(
                "FY101",
                f"unknown key '{name}' in {_noun(schema)}",
                key.span,
                hint,
                node,
                suggested=guess,
            )

    def missing_keys(
        self, error: ValidationError, where: _Located, schema: Mapping[str, Any]
    ) -> Iterator[_Found]:
        instance = error.instance if isinstance(error.instance, dict) else {}
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in _spec(error):
            if name in instance:
                continue
            owner = f" '{where.key}'" if isinstance(where.key, str) else ""
            prop = properties.get(name, {})
            example = _example(prop)
            hint = f"add '{name}: {example}'" if example else f"add '{name}'"
            if prop.get("description"):
                hint += f" ({str(prop['description']).rstrip('.')})"
            yield self.found(
                "FY103",
                f"{_noun(schema)}{owner} needs '{name}'",
                where.head,
                hint,
                where.node,
                missing=(name,),
            )

    def dependencies(
        self, error: ValidationError, where: _Located, schema: Mapping[str, Any]
    ) -> Iterator[_Found]:
        node = where.node
        if not isinstance(node, YMap):
            return
        for name, needs in _spec(error).items():
            if name not in node.index:
                continue
            for need in needs:
                if need not in node.index:
                    yield self.found(
                        "FY103",
                        f"'{name}' needs '{need}' in {_noun(schema)}",
                        node.index[name][0].span,
                        f"add '{need}', or remove '{name}'",
                        node,
                        missing=(need,),
                    )

    # ------------------------------------------------------------ values

    def wrong_type(
        self, error: ValidationError, where: _Located, schema: Mapping[str, Any]
    ) -> _Found:
        label = f"'{where.key}'" if isinstance(where.key, str) else _noun(schema)
        example = _example(schema)
        expected = _expected(error.validator_value)
        message = f"{label} should be {expected}, not {_type_of(error.instance)}"
        hint = f"for example: {example}" if example else f"write {expected} here"
        value = error.instance
        if schema.get("title") == "Duration" and suggest_duration(value):
            message = f"{label} should be a duration with a unit, not the number {value}"
            hint = f"write '{suggest_duration(value)}' for seconds, or use ms, m, h or d"
        elif error.validator_value == "object" and isinstance(value, str):
            # `final true`: a key whose ':' is missing reads as one string.
            first, _, rest = value.partition(" ")
            if rest and first in schema.get("properties", {}):
                message = f"'{_show(value)}' looks like a key without its ':'"
                hint = f"write '{first}: {rest.strip()}'"
        return self.found("FY102", message, where.node.span, hint, where.node)

    def bad_value(
        self, error: ValidationError, where: _Located, schema: Mapping[str, Any]
    ) -> _Found:
        kind = error.validator
        value = error.instance
        label = f"'{where.key}'" if isinstance(where.key, str) else _noun(schema)
        custom = schema.get("errorMessage")
        example = _example(schema)
        hint = f"for example: {example}" if example else None
        code = "FY104"
        if kind == "enum":
            options = [str(v) for v in _spec(error)]
            guess = did_you_mean(str(value), options) or did_you_mean(str(value).upper(), options)
            message = f"{label} is '{_show(value)}', which is not one of: {', '.join(options)}"
            hint = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(options)}"
        elif kind == "pattern":
            code = "FY501" if schema.get("title") == "Duration" else "FY104"
            message = f"invalid {str(schema.get('title', 'value')).lower()} '{_show(value)}'"
            hint = _pattern_hint(
                schema, value, str(custom) if custom else f"it must match {error.validator_value}"
            )
        elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            bound = {
                "minimum": "at least",
                "maximum": "at most",
                "exclusiveMinimum": "more than",
                "exclusiveMaximum": "less than",
            }[kind]
            message = f"{label} is {_show(value)}, but it must be {bound} {error.validator_value}"
        elif kind in ("minItems", "minProperties"):
            what = "list" if kind == "minItems" else "mapping"
            message = f"{label} is an empty {what}" + (f": {custom}" if custom else "")
            if not example:
                hint = "list at least one value" if what == "list" else "add at least one entry"
        elif kind == "not" and custom:
            message = "'candidates' cannot be used together with when, do, goto or catch"
            hint = str(custom)
        else:
            message = f"invalid value for {label}: {error.message}"
        node = where.node
        empty = kind in ("minItems", "minProperties")
        span = where.head if isinstance(node, YMap | YSeq) and not empty else node.span
        if kind == "not" and isinstance(node, YMap) and "candidates" in node.index:
            span = node.index["candidates"][0].span
        return self.found(code, message, span, hint, node)

    def alternatives(
        self, error: ValidationError, where: _Located, schema: Mapping[str, Any]
    ) -> Iterator[_Found]:
        custom = schema.get("errorMessage")
        label = f"'{where.key}'" if isinstance(where.key, str) else _noun(schema)
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context or ():
            index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
            if isinstance(index, int):
                branches.setdefault(index, []).append(sub)
        if not branches:
            # More than one alternative matched.
            yield self.found(
                "FY104",
                _with_label(where, custom) if custom else f"{label} is ambiguous: {error.message}",
                where.head,
                "keep only one of them",
                where.node,
            )
            return
        fitting = {i: errs for i, errs in branches.items() if not _top_level(errs, "type")}
        misplaced = _misplaced_key(where)
        if not fitting and misplaced is not None:
            yield self.found("FY102", *misplaced, where.node)
            return
        if not fitting and error.instance is None:
            parent = _locate(self.root, list(error.absolute_path)[:-1]).node
            if isinstance(parent, YMap) and any(k in parent.index for k in _TRANSITION_KEYS):
                return  # `2h:` left empty by the under-indented key reported on its own
        if not fitting:
            expected = custom or f"has the wrong type ({error.message})"
            yield self.found(
                "FY102",
                f"{label} is {_type_of(error.instance)}; {expected}",
                where.node.span,
                f"for example: {_example(schema)}" if _example(schema) else "change its type",
                where.node,
            )
            return
        if all(_only_top_level(errs, "required") for errs in fitting.values()):
            keys = sorted({k for errs in fitting.values() for e in errs for k in _spec(e)})
            yield self.found(
                "FY103",
                _with_label(where, custom)
                if custom
                else f"{label} needs one of: {', '.join(keys)}",
                where.head,
                "add one of: " + ", ".join(f"'{k}'" for k in keys),
                where.node,
                missing=tuple(keys),
            )
            return
        best = min(fitting.values(), key=lambda errs: (_top_level(errs, "required"), len(errs)))
        for sub in best:
            yield from self.explain(sub)


# Keys of a transition: met where a trigger or a duration belongs (under `on:` or
# `after:`), they are almost always indented too little.
_TRANSITION_KEYS = ("when", "do", "goto", "catch")


def _misplaced_key(where: _Located) -> tuple[str, Span, str] | None:
    """(message, span, hint) when a transition's key stands where a trigger or duration goes."""
    if where.key not in _TRANSITION_KEYS or where.key_span is None:
        return None
    return (
        f"'{where.key}' is indented as if it were an event or a timer, not part of a transition",
        where.key_span,
        f"indent '{where.key}' like the other keys of the transition above it",
    )


def _pattern_hint(schema: Mapping[str, Any], value: object, reason: str) -> str:
    """How to fix a string that does not match its pattern: a likely fix first, if any."""
    if schema.get("title") == "Duration":
        guess = suggest_duration(value)
        return f"did you mean '{guess}'? ({reason})" if guess else reason
    options = _pattern_words(schema.get("pattern"))
    if options:  # a closed set of words: the examples name the others (5xx, 429)
        options += [e for e in schema.get("examples", ()) if isinstance(e, str)]
    guess = did_you_mean(value, options) if isinstance(value, str) and options else None
    if guess:
        return f"did you mean '{guess}'? ({reason})"
    example = _example(schema)
    return reason + (f", e.g. {example}" if example else "")


def _pattern_words(pattern: object) -> list[str]:
    """The literal words of a `^(?:a|b|...)$` pattern; empty for any other pattern."""
    if not isinstance(pattern, str) or not pattern.startswith("^(?:") or not pattern.endswith(")$"):
        return []
    return [w for w in pattern[4:-2].split("|") if w.isidentifier()]


def _spec(error: ValidationError) -> Any:
    """The failing keyword's value in the schema (`required`'s list, `enum`'s options)."""
    return error.validator_value


def _with_label(where: _Located, message: object) -> str:
    return f"'{where.key}': {message}" if isinstance(where.key, str) else str(message)


def _top_level(errors: Sequence[ValidationError], kind: str) -> bool:
    return any(e.validator == kind and not e.relative_path for e in errors)


def _only_top_level(errors: Sequence[ValidationError], kind: str) -> bool:
    return all(e.validator == kind and not e.relative_path for e in errors)
