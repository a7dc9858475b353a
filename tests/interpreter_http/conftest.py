"""Fixtures for the HTTP ingress tests (helpers live in http_helpers.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from flowyard.interpreter.http import create_app  # noqa: E402
from flowyard.interpreter.runtime import Runtime, Transition  # noqa: E402
from flowyard.interpreter.storable import Bounds  # noqa: E402
from flowyard.interpreter.store import SQLiteStore  # noqa: E402
from http_helpers import Effects, Harness, HarnessFactory, compile_things, stop  # noqa: E402


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "flowd.db"


@pytest.fixture
async def make_harness(db_path: Path) -> AsyncIterator[HarnessFactory]:
    """Start a runtime and its app on the test store (again after `stop`)."""
    started: list[Harness] = []
    effects = Effects()

    async def factory(
        on_transition: Callable[[Transition], None] | None = None, bounds: Bounds | None = None
    ) -> Harness:
        store = await SQLiteStore.open(db_path, synchronous="NORMAL")
        letters: list[tuple[str, str]] = []
        runtime = Runtime(
            store,
            [compile_things()],
            effect_overrides={"check": effects.check, "confirm": effects.confirm},
            on_transition=on_transition,
            on_dead_letter=lambda s, r: letters.append((s, r)),
            bounds=bounds,
        )
        await runtime.start()
        app = create_app(runtime, on_dead_letter=lambda s, r: letters.append((s, r)))
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        harness = Harness(runtime, store, client, effects, letters)
        started.append(harness)
        return harness

    yield factory
    for harness in started:
        await stop(harness)


@pytest.fixture
async def h(make_harness: HarnessFactory) -> Harness:
    """One started harness."""
    return await make_harness()
