"""The python effect interface: what a flow's `python: module:function` effect is given.

    from flowyard.interpreter.effects import EffectContext, EffectError

    async def reserve_stock(args: dict[str, Any], ctx: EffectContext) -> dict[str, Any]:
        ...

An effect is an `async def f(args, ctx)`: `args` is the call's evaluated `with`
map (or the `for_each` item), `ctx` an `EffectContext`. What it returns must be
JSON; it is journaled and bound by the call's `result`. Raising fails the
attempt, which is retried per the effect's `retry` policy; `EffectError(...,
retryable=False)` fails the call at once. docs/effects.md has the whole story.
This module is the interface's public home; its names stay here.
"""

from __future__ import annotations

from .runtime.effects.context import EffectContext, EffectError
from .runtime.effects.python import PythonEffect

__all__ = ["EffectContext", "EffectError", "PythonEffect"]
