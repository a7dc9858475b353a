"""Reading YAML while keeping line numbers, and turning nodes into checked values.

Scenario files are composed into pyyaml nodes (so every step and key keeps its
line) and converted field by field; anything of the wrong shape becomes a
`ScenarioError` at the offending line. Timestamps stay strings: event payloads
hold RFC 3339 text that flows parse themselves.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import yaml

from ..expr_values import ConversionError, parse_duration, parse_timestamp
from .spec import ScenarioError, Where


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def compose(text: str, file: str) -> yaml.Node:
    """The document's root node; raises ScenarioError for bad YAML or an empty file."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioError(Where(file, line), f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(Where(file, 1), f"not valid YAML: {exc}") from None
    if node is None:
        raise ScenarioError(Where(file, 1), "the file is empty; a scenario is a YAML mapping")
    return node


class Nodes:
    """Conversions from nodes of one file to values, with errors at the node's line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._loader = _Loader("")

    def where(self, node: yaml.Node) -> Where:
        """The node's position."""
        return Where(self.file, node.start_mark.line + 1)

    def fail(self, node: yaml.Node, message: str) -> ScenarioError:
        """An error to raise at `node`."""
        return ScenarioError(self.where(node), message)

    def value(self, node: yaml.Node) -> Any:
        """The plain value of a node (mappings, lists, scalars)."""
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(node, f"cannot read this value: {exc}") from None

    def mapping(
        self,
        node: yaml.Node,
        what: str,
        *,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, yaml.Node]:
        """A mapping's entries by (string) key; checks unknown and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping, not {_kind(node)}")
        entries: dict[str, yaml.Node] = {}
        keys: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                raise self.fail(key_node, f"{what}: keys must be strings, not {key!r}")
            if key in entries:
                raise self.fail(key_node, f"{what}: {key!r} is given twice")
            entries[key] = value_node
            keys[key] = key_node
        if allowed is not None:
            allowed = list(allowed)
            for key, key_node in keys.items():
                if key not in allowed:
                    raise self.fail(
                        key_node, f"{what}: unknown field {key!r}{_suggest(key, allowed)}"
                    )
        for key in required:
            if key not in entries:
                raise self.fail(node, f"{what}: missing field {key!r}")
        return entries

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        """A list's items."""
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list, not {_kind(node)}")
        return list(node.value)

    def string(self, node: yaml.Node, what: str) -> str:
        """A string (numbers are accepted and turned into text, for keys like `42`)."""
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(node, f"{what} must be a string, not {_show(value)}")
        return str(value)

    def integer(self, node: yaml.Node, what: str, *, minimum: int = 0) -> int:
        """A whole number >= `minimum`."""
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(node, f"{what} must be a whole number >= {minimum}, not {_show(value)}")
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        """true or false."""
        value = self.value(node)
        if not isinstance(value, bool):
            raise self.fail(node, f"{what} must be true or false, not {_show(value)}")
        return value

    def duration_ms(self, node: yaml.Node, what: str) -> int:
        """A duration (`500ms`, `30s`, `5m`, `2h`, `1d`, `PT30M`) in milliseconds."""
        text = self.string(node, what)
        try:
            ms = parse_duration(text).ms
        except ConversionError as exc:
            raise self.fail(node, f"{what}: {exc}") from None
        if ms < 0:
            raise self.fail(node, f"{what} must not be negative")
        return ms

    def timestamp_ms(self, node: yaml.Node, what: str) -> int:
        """An RFC 3339 time with an offset or `Z`, in epoch milliseconds."""
        text = self.string(node, what)
        try:
            return parse_timestamp(text).ms
        except ConversionError as exc:
            raise self.fail(node, f"{what}: {exc} (write e.g. 2026-01-01T00:00:00Z)") from None

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        """A string or a list of strings."""
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.string(item, what) for item in node.value)
        return (self.string(node, what),)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the scalar {node.value!r}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(allowed)})"
