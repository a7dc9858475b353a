"""Python effects of the webhook_delivery example (`examples.webhooks:subscribers_for`).

Effects are `async def name(args, ctx)`: `args` is the call's `with` map, `ctx`
a `flowyard.interpreter.effects.EffectContext`. They return JSON and
raise to fail an attempt.

Subscribers are read from JSON, `{"<kind>": [{"url": ...}, ...], "*": [...]}`
(`"*"` receives every kind): from the file named by
`FLOWYARD_WEBHOOK_SUBSCRIBERS`, else from the text of
`FLOWYARD_WEBHOOK_SUBSCRIBERS_JSON`, else nobody subscribes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flowyard.interpreter.effects import EffectContext, EffectError


def _registry() -> dict[str, Any]:
    path = os.environ.get("FLOWYARD_WEBHOOK_SUBSCRIBERS")
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = os.environ.get("FLOWYARD_WEBHOOK_SUBSCRIBERS_JSON", "{}")
    try:
        registry = json.loads(text)
    except ValueError as exc:
        raise EffectError(f"subscriber registry is not JSON: {exc}", retryable=False) from exc
    if not isinstance(registry, dict):
        raise EffectError("subscriber registry must be a JSON object", retryable=False)
    return registry


async def subscribers_for(args: dict[str, Any], ctx: EffectContext) -> list[dict[str, Any]]:
    """The subscribers of one event kind, in registry order, without duplicate URLs.

    args: `kind` (string). Returns `[{url}, ...]`.
    """
    kind = str(args.get("kind", ""))
    registry = _registry()
    seen: set[str] = set()
    result: list[dict[str, Any]] = []
    for entry in [*registry.get(kind, []), *registry.get("*", [])]:
        url = str(entry["url"]) if isinstance(entry, dict) else str(entry)
        if url not in seen:
            seen.add(url)
            result.append({"url": url})
    return result
