"""Python effects: an async callable found by its import path.

Convention (the examples follow it)::

    async def reserve_stock(args: dict[str, Any], ctx: EffectContext) -> Any:
        ...

`args` is the call's evaluated `with` map (or the `for_each` item's), `ctx`
an `EffectContext` carrying the idempotency key, the attempt number, the flow,
the key and the call id. The return value must be JSON-serialisable; it is
journaled and bound into `result`. Raising fails the attempt (kind `error`);
raise `EffectError(..., retryable=False)` to fail the call without retrying.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from .context import EffectContext

PythonEffect = Callable[[Any, EffectContext], Awaitable[Any]]
"""The type of a python effect: `async def f(args, ctx) -> JSON`."""


class EffectLoadError(Exception):
    """The import path names no importable async callable."""


class PythonEffectLoader:
    """Resolves and caches `module:function` effects.

    The working directory (or the given `search_path`) is put on `sys.path`
    first, so `examples.shop:reserve_stock` resolves to ./examples/shop.py.
    """

    def __init__(self, search_path: list[str] | None = None) -> None:
        self._search_path = search_path if search_path is not None else [os.getcwd()]
        self._cache: dict[tuple[str, str], PythonEffect] = {}

    def load(self, module: str, function: str) -> PythonEffect:
        """The async callable `module:function`; raises EffectLoadError if it is not one."""
        cached = self._cache.get((module, function))
        if cached is not None:
            return cached
        for entry in reversed(self._search_path):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        try:
            mod = importlib.import_module(module)
        except Exception as exc:
            raise EffectLoadError(f"cannot import module {module!r}: {exc}") from exc
        fn = getattr(mod, function, None)
        if fn is None:
            raise EffectLoadError(f"module {module!r} has no attribute {function!r}")
        if not callable(fn) or not inspect.iscoroutinefunction(fn):
            raise EffectLoadError(f"{module}:{function} is not an async function")
        effect: PythonEffect = fn
        self._cache[(module, function)] = effect
        return effect
