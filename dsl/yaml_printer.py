"""The flow AST -> canonical `.flow.yaml` text that loads back to an equal AST.

The AST is first turned into plain YAML-shaped data (mappings in the author's
order, expressions as their source text), which a small emitter writes in block
style, with short leaf mappings and lists on one line (`{goto: paid}`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from . import ast
from .comments import NO_COMMENTS, AttachedComments
from .expr_printer import format_expr
from .templates import format_value_string
from .yaml_loader import resolve_plain


def format_yaml(flow: ast.Flow, comments: AttachedComments = NO_COMMENTS) -> str:
    """Canonical YAML for `flow`, with `comments` before the nodes they belong to."""
    lines = [f"#{text}" for text in comments.at_top]
    lines += _block(_flow(flow, comments), 0, force_depth=0)
    if comments.at_end:
        lines += ["", *(f"#{text}" for text in comments.at_end)]
    return "\n".join(lines) + "\n"


class _NotedKey(str):
    """A mapping key with the comments to write on the lines above it."""

    __slots__ = ("comments",)
    comments: list[str]


class _NotedItem(dict[str, Any]):
    """A list item (a mapping) with the comments to write on the lines above it."""

    __slots__ = ("comments",)
    comments: list[str]


def _noted_key(key: str, comments: list[str]) -> str:
    if not comments:
        return key
    noted = _NotedKey(key)
    noted.comments = comments
    return noted


def _noted_item(item: dict[str, Any], comments: list[str]) -> dict[str, Any]:
    if not comments:
        return item
    noted = _NotedItem(item)
    noted.comments = comments
    return noted


def _comments_of(value: object) -> list[str]:
    return getattr(value, "comments", None) or []


# ---------------------------------------------------------------- AST -> data


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Adds `value` unless it says nothing (None or an empty list)."""
    if value is None or (isinstance(value, tuple | list) and not value):
        return
    out[key] = value


def _flow(flow: ast.Flow, notes: AttachedComments) -> dict[str, Any]:
    out: dict[str, Any] = {"flow": flow.name, "version": flow.version}
    _put(out, "description", flow.description)
    _put(out, "key", flow.key)
    if flow.events:
        out["events"] = {_noted_key(e.name, notes.of(e)): _event(e) for e in flow.events}
    if flow.signals:
        out["signals"] = {_noted_key(s.name, notes.of(s)): _signal(s) for s in flow.signals}
    if flow.effects:
        out["effects"] = {_noted_key(e.name, notes.of(e)): _effect(e) for e in flow.effects}
    if flow.data:
        out["data"] = {_noted_key(d.name, notes.of(d)): _data_field(d) for d in flow.data}
    out["initial"] = flow.initial
    out["states"] = {_noted_key(s.name, notes.of(s)): _state(s, notes) for s in flow.states}
    return out


def _match(entries: tuple[ast.MatchEntry, ...]) -> dict[str, Any] | None:
    if not entries:
        return None
    return {m.path: m.values[0] if len(m.values) == 1 else list(m.values) for m in entries}


def _event(event: ast.EventDecl) -> dict[str, Any]:
    out: dict[str, Any] = {"topic": event.topic}
    _put(out, "match", _match(event.match))
    _put(out, "match_headers", _match(event.match_headers))
    out["key"] = format_expr(event.key)
    _put(out, "schema", event.schema.schema if event.schema else None)
    _put(out, "delay", event.delay.text if event.delay else None)
    _put(out, "description", event.description)
    return out


def _signal(signal: ast.SignalDecl) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "schema", signal.schema.schema if signal.schema else None)
    _put(out, "topic", signal.topic)
    _put(out, "key", format_expr(signal.key) if signal.key is not None else None)
    _put(out, "description", signal.description)
    return out


def _retry(retry: ast.RetryPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "attempts", retry.attempts)
    _put(out, "backoff", retry.backoff.text if retry.backoff else None)
    _put(out, "max_backoff", retry.max_backoff.text if retry.max_backoff else None)
    _put(out, "jitter", retry.jitter)
    if retry.retry_on is not None:
        # A status code reads best as a number; it loads back as the same string.
        out["retry_on"] = [int(r) if r.isdigit() and len(r) == 3 else r for r in retry.retry_on]
    return out


def _headers(headers: tuple[tuple[str, ast.Expr], ...]) -> dict[str, Any] | None:
    return {name: _value(expr) for name, expr in headers} if headers else None


def _effect(effect: ast.EffectDecl) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kind = effect.kind
    if isinstance(kind, ast.PythonEffect):
        out["python"] = kind.target
    elif isinstance(kind, ast.HttpEffect):
        http: dict[str, Any] = {"method": kind.method, "url": _value(kind.url)}
        _put(http, "headers", _headers(kind.headers))
        if kind.body is not None:
            http["body"] = _value(kind.body)
        out["http"] = http
    else:
        emit: dict[str, Any] = {"topic": kind.topic}
        # Values are kept even when empty or null: `[]` and `null` are values too.
        if kind.key is not None:
            emit["key"] = _value(kind.key)
        if kind.value is not None:
            emit["value"] = _value(kind.value)
        _put(emit, "headers", _headers(kind.headers))
        out["emit"] = emit
    _put(out, "timeout", effect.timeout.text if effect.timeout else None)
    _put(out, "retry", _retry(effect.retry) if effect.retry else None)
    if effect.callback_timeout is not None:
        out["callback"] = {"timeout": effect.callback_timeout.text}
    _put(out, "concurrency", effect.concurrency)
    _put(out, "description", effect.description)
    return out


def _data_field(field: ast.DataField) -> dict[str, Any]:
    out: dict[str, Any] = dict(field.schema.schema)
    if field.has_default:
        out["default"] = field.default
    return out


def _value(expr: ast.Expr) -> Any:
    """A value as YAML data: literals as themselves, anything else as a `${ }` string."""
    if isinstance(expr, ast.Literal):
        return format_value_string(expr) if isinstance(expr.value, str) else expr.value
    if isinstance(expr, ast.MapLit):
        return {key: _value(value) for key, value in expr.entries}
    if isinstance(expr, ast.ListLit):
        return [_value(item) for item in expr.items]
    return format_value_string(expr)


def _action(action: ast.Action) -> dict[str, Any]:
    if isinstance(action, ast.SetAction):
        return {"set": {name: _value(value) for name, value in action.assignments}}
    out: dict[str, Any] = {"call": action.effect}
    if action.args is not None:
        out["with"] = _value(action.args)
    _put(out, "result", action.result)
    if action.for_each is not None:
        out["for_each"] = _value(action.for_each)
    _put(out, "concurrency", action.concurrency)
    return out


def _actions(
    actions: tuple[ast.Action, ...], notes: AttachedComments
) -> list[dict[str, Any]] | None:
    return [_noted_item(_action(a), notes.of(a)) for a in actions] if actions else None


def _transition(transition: ast.Transition, notes: AttachedComments) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "when", format_expr(transition.when) if transition.when is not None else None)
    _put(out, "do", _actions(transition.actions, notes))
    _put(out, "goto", transition.goto)
    if transition.catch is not None:
        catch: dict[str, Any] = {}
        _put(catch, "do", _actions(transition.catch.actions, notes))
        _put(catch, "goto", transition.catch.goto)
        out["catch"] = catch
    return out


def _candidate_list(
    candidates: tuple[ast.Transition, ...], notes: AttachedComments
) -> list[dict[str, Any]]:
    return [_noted_item(_transition(t, notes), notes.of(t)) for t in candidates]


def _trigger(
    key: str, candidates: tuple[ast.Transition, ...], notes: AttachedComments, trigger: object
) -> tuple[str, Any]:
    """`key: transition` or `key: [candidates]`; one candidate's comments go above the key."""
    if len(candidates) == 1:
        return _noted_key(key, notes.of(trigger, candidates[0])), _transition(candidates[0], notes)
    return _noted_key(key, notes.of(trigger)), _candidate_list(candidates, notes)


def _at(timer: ast.AtTimer, notes: AttachedComments) -> dict[str, Any]:
    out: dict[str, Any] = {"time": _value(timer.time)}
    if len(timer.candidates) == 1:
        out.update(_transition(timer.candidates[0], notes))
        return _noted_item(out, notes.of(timer, timer.candidates[0]))
    out["candidates"] = _candidate_list(timer.candidates, notes)
    return _noted_item(out, notes.of(timer))


def _state(state: ast.State, notes: AttachedComments) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "description", state.description)
    _put(out, "enter", _actions(state.enter, notes))
    _put(out, "exit", _actions(state.exit, notes))
    if state.on:
        out["on"] = dict(_trigger(c.trigger, c.candidates, notes, c) for c in state.on)
    if state.after:
        out["after"] = dict(_trigger(t.delay.text, t.candidates, notes, t) for t in state.after)
    _put(out, "at", [_at(t, notes) for t in state.at] if state.at else None)
    _put(out, "always", _candidate_list(state.always, notes) if state.always else None)
    _put(out, "defer", [ref.name for ref in state.defer] if state.defer else None)
    if state.final:
        out["final"] = True
    return out


# ---------------------------------------------------------------- data -> YAML text

_WIDTH = 88
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_YAML11_WORDS = frozenset({"yes", "no", "on", "off", "y", "n"})
_DURATION_LIKE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+\Z")
# `?` too: pyyaml's pure-Python parser ends a plain value at `?` inside `{ }` or `[ ]`.
_FLOW_UNSAFE = frozenset(",[]{}:?")


def _plain_ok(text: str, *, in_flow: bool, is_key: bool) -> bool:
    """Whether `text` can be written unquoted and still load as the same string."""
    if not text or text != text.strip() or not text.isprintable():
        return False
    if text[0] in _INDICATORS or "${" in text:
        return False
    # YAML 1.1 tools read these as booleans; keys like `on:` are left as authors write them.
    if not is_key and text.lower() in _YAML11_WORDS:
        return False
    if ": " in text or " #" in text or text.endswith(":"):
        return False
    if in_flow and any(c in _FLOW_UNSAFE for c in text):
        return False
    if text[0] in "0123456789+-.":
        return _DURATION_LIKE.match(text) is not None
    return isinstance(resolve_plain(text), str)


def _quoted(text: str) -> str:
    if '"' in text and "'" not in text and text.isprintable():
        return "'" + text + "'"
    quoted = json.dumps(text, ensure_ascii=False)
    if quoted.isprintable():
        return quoted
    # JSON leaves DEL, C1 controls and line separators raw; YAML would not read them back.
    return "".join(c if c.isprintable() else _escape(c) for c in quoted)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _scalar(value: Any, *, in_flow: bool, is_key: bool = False) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    text = str(value)
    if _plain_ok(text, in_flow=in_flow, is_key=is_key):
        return text
    return _quoted(text)


def format_inline(value: Any) -> str:
    """A JSON value as YAML on one line, in flow style (`{goto: paid}`), for messages."""
    if isinstance(value, dict):
        entries = (
            f"{_scalar(k, in_flow=True, is_key=True)}: {format_inline(v)}" for k, v in value.items()
        )
        return "{" + ", ".join(entries) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(format_inline(v) for v in value) + "]"
    return _scalar(value, in_flow=True)


def _inline(value: Any, nested: list[int] | None = None) -> str | None:
    """`value` on one line, or None when it holds too much to read well that way.

    At most one non-empty collection may sit inside another (`{goto: x}` inside
    `{30m: ...}`); a list of mappings is always written as a block.
    """
    budget = [1] if nested is None else nested
    if isinstance(value, dict | list) and any(
        _comments_of(part) for part in (value.keys() if isinstance(value, dict) else value)
    ):
        return None  # comments need lines of their own
    if isinstance(value, dict | list) and value:
        if nested is not None:
            budget[0] -= 1
            if budget[0] < 0:
                return None
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            return None
        parts: list[str] = []
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for key, item in items:
            text = _inline(item, budget)
            if text is None:
                return None
            parts.append(
                text if key is None else f"{_scalar(key, in_flow=True, is_key=True)}: {text}"
            )
        body = ", ".join(parts)
        return "{" + body + "}" if isinstance(value, dict) else "[" + body + "]"
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return _scalar(value, in_flow=nested is not None)


def _fits(prefix: str, value: Any, force: bool) -> str | None:
    if not isinstance(value, dict | list):
        return _scalar(value, in_flow=False)
    if force and value:
        return None
    text = _inline(value)
    if text is None or len(prefix) + len(text) > _WIDTH:
        return None
    return text


def _block(value: dict[str, Any] | list[Any], indent: int, force_depth: int = -1) -> list[str]:
    """Block-style lines; collections at depth <= `force_depth` are never put on one line."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            lines += [f"{pad}#{text}" for text in _comments_of(key)]
            prefix = f"{pad}{_scalar(key, in_flow=False, is_key=True)}:"
            text = _fits(prefix + " ", item, force_depth >= 0)
            if text is not None:
                lines.append(f"{prefix} {text}")
            else:
                lines.append(prefix)
                lines.extend(_block(item, indent + 2, force_depth - 1))
        return lines
    for item in value:
        lines += [f"{pad}#{text}" for text in _comments_of(item)]
        # A mapping in a list reads best as a block: `- call: x` then `  with: {...}`.
        text = _fits(pad + "- ", item, force_depth >= 0 or isinstance(item, dict))
        if text is not None:
            lines.append(f"{pad}- {text}")
            continue
        inner = _block(item, indent + 2, force_depth - 1)
        if isinstance(item, dict):
            inner[0] = f"{pad}- {inner[0][indent + 2 :]}"
            lines.extend(inner)
        else:
            lines.append(f"{pad}-")
            lines.extend(inner)
    return lines
