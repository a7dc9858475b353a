"""Python effects: an async callable found by its import path.

Convention (the examples follow it)::

    async def reserve_stock(args: dict[str, Any], ctx: EffectContext) -> Any:
        ...

`args` is the call's evaluated `with` map (or the `for_each` item's), `ctx`
an `EffectContext` carrying the idempotency key, the attempt number, the flow,
the key and the call id. The return value must be JSON-serialisable; it is
journaled and bound into `result`. Raising fails the attempt (kind `error`);
raise `EffectError(..., retryable=False)` to fail the call without retrying.

An `async def` effect runs on flowd's event loop, beside every other key: it
must never block (no `time.sleep`, no blocking I/O). An effect that has to
block is declared with a plain `def`: it then runs in a thread of a pool of
`SYNC_EFFECT_THREADS`, and its timeout fails the attempt when it expires (the
thread itself runs on until the function returns: Python cannot stop it).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .context import EffectContext

PythonEffect = Callable[[Any, EffectContext], Awaitable[Any]]
"""The type of a python effect: `async def f(args, ctx) -> JSON`."""

SYNC_EFFECT_THREADS = 32
"""Threads for effects declared with a plain `def` (more wait for a free one)."""


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
        self._pool: ThreadPoolExecutor | None = None

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
        if not callable(fn):
            raise EffectLoadError(f"{module}:{function} is not a function")
        effect: PythonEffect = fn if inspect.iscoroutinefunction(fn) else self._in_thread(fn)
        self._cache[(module, function)] = effect
        return effect

    def _in_thread(self, fn: Callable[[Any, EffectContext], Any]) -> PythonEffect:
        """`fn` (a plain function, which may block) as an effect run in the pool."""

        async def run(args: Any, ctx: EffectContext) -> Any:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    SYNC_EFFECT_THREADS, thread_name_prefix="flowd-effect"
                )
            result = await asyncio.get_running_loop().run_in_executor(self._pool, fn, args, ctx)
            if inspect.isawaitable(result):
                return await result
            return result

        return run

    def close(self) -> None:
        """Stop taking work in the thread pool (running functions finish on their own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
