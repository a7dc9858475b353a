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
import importlib.util
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
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

    With `allowed_modules` (a list, maybe empty) only the project's own
    modules (found under the search path) and the modules listed (a name
    allows its submodules too) are imported: a flow cannot name `os:system`
    or any other installed module unless the operator allows it.
    """

    def __init__(
        self, search_path: list[str] | None = None, allowed_modules: Sequence[str] | None = None
    ) -> None:
        self._search_path = search_path if search_path is not None else [os.getcwd()]
        self._allowed = None if allowed_modules is None else tuple(allowed_modules)
        self._cache: dict[tuple[str, str], PythonEffect] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _check_allowed(self, module: str) -> None:
        if self._allowed is None:
            return
        if any(module == name or module.startswith(name + ".") for name in self._allowed):
            return
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        origin = None if spec is None else spec.origin
        roots = [os.path.realpath(entry) for entry in self._search_path]
        if origin is not None and any(
            os.path.realpath(origin).startswith(root + os.sep) for root in roots
        ):
            return
        raise EffectLoadError(
            f"module {module!r} is not part of the project ({', '.join(self._search_path)}) "
            f"and not allowed: start flowd with --allow-module {module.split('.', maxsplit=1)[0]} "
            "(or flows.python_modules in flowd.toml) if flows may call it"
        )

    def load(self, module: str, function: str) -> PythonEffect:
        """The async callable `module:function`; raises EffectLoadError if it is not one."""
        cached = self._cache.get((module, function))
        if cached is not None:
            return cached
        for entry in reversed(self._search_path):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        self._check_allowed(module)
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
