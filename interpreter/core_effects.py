"""Pure helpers around effect calls: deterministic ids and rendering an effect's templates.

The shell and the scenario runner share `render_effect_request`, so an HTTP
request or an emitted record looks the same wherever it is built; the core uses
it for `emit` effects, which complete without a round-trip through the shell.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .expr import ExprError, pointer_join
from .expr_values import ConversionError, to_json_value, to_text
from .program import Effect, Program


def call_id(
    flow: str, key: str, seq: int, action_id: str, *, item: int | None = None, retry: int = 0
) -> str:
    """`{flow}/{key}/{seq}/{action_id}`, plus `/{item}` for for_each, plus `/r{n}` for retries."""
    cid = f"{flow}/{key}/{seq}/{action_id}"
    if item is not None:
        cid += f"/{item}"
    if retry:
        cid += f"/r{retry}"
    return cid


def idempotency_key(call: str) -> str:
    """A stable key derived from the call id: every attempt of one call carries it."""
    return "fy-" + hashlib.sha256(call.encode()).hexdigest()[:40]


def effect_scope(
    args: Any, key: str, env: Mapping[str, str], callback: Mapping[str, str] | None
) -> dict[str, Any]:
    """The names in scope inside an effect's templates."""
    env_map = env if isinstance(env, dict) else dict(env)
    scope: dict[str, Any] = {"args": args, "key": key, "env": env_map}
    if callback is not None:
        scope["callback"] = dict(callback)
    return scope


def _headers(effect: Effect, scope: Mapping[str, Any]) -> dict[str, str]:
    return {name: to_text(t(scope)) for name, t in effect.header_templates.items()}


def render_effect_request(
    program: Program,
    effect_name: str,
    args: Any,
    key: str,
    env: Mapping[str, str],
    *,
    callback: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Evaluate an effect's templates for one call; raises `ExprError` on a failing template.

    Returns, by kind:
    - python: `{"kind", "module", "function", "args"}`
    - http: `{"kind", "method", "url", "headers", "body"}` (body is JSON or None)
    - emit: `{"kind", "topic", "key", "value", "headers"}` (value defaults to args)

    `callback` (`{"url", "token"}`) is in scope for effects declared with a callback.
    """
    effect = program.effects[effect_name]
    try:
        return _render(effect, effect_scope(args, key, env, callback))
    except ConversionError as exc:
        raise ExprError(str(exc), pointer_join("/effects", effect_name)) from None


def _render(effect: Effect, scope: Mapping[str, Any]) -> dict[str, Any]:
    templates = effect.templates
    args = scope["args"]
    if effect.kind == "python":
        return {
            "kind": "python",
            "module": effect.spec["module"],
            "function": effect.spec["function"],
            "args": args,
        }
    if effect.kind == "http":
        url = templates["url"](scope)
        if not isinstance(url, str):
            pointer = pointer_join("/effects", effect.name, "http", "url")
            raise ExprError("an http url must be a string", pointer)
        body = templates["body"](scope) if "body" in templates else None
        return {
            "kind": "http",
            "method": effect.spec["method"],
            "url": url,
            "headers": _headers(effect, scope),
            "body": None if body is None else to_json_value(body),
        }
    key_value = templates["key"](scope) if "key" in templates else None
    value = templates["value"](scope) if "value" in templates else args
    return {
        "kind": "emit",
        "topic": effect.spec["topic"],
        "key": None if key_value is None else to_text(key_value),
        "value": to_json_value(value),
        "headers": _headers(effect, scope),
    }
