"""Fixtures for the runtime tests: a real store (SQLite, or PostgreSQL with
FLOWYARD_TEST_STORE=postgresql), the real compiler and core."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flowyard.compiler.api import compile_file, compile_text
from flowyard.interpreter.store.sqlite import SQLiteStore

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
EXAMPLE_DIR = HERE.parent.parent / "examples"
ROOT = HERE.parent.parent


def _compile_yaml(text: str) -> dict[str, Any]:
    ir, diagnostics = compile_text(textwrap.dedent(text), file="test.flow.yaml", surface="yaml")
    assert ir is not None, "\n".join(str(d) for d in diagnostics)
    return ir


def _shared_example(name: str) -> dict[str, Any]:
    ir, diagnostics = compile_file(EXAMPLE_DIR / f"{name}.flow.yaml")
    assert ir is not None, "\n".join(str(d) for d in diagnostics)
    return ir


@pytest.fixture
def compile_yaml() -> Callable[[str], dict[str, Any]]:
    """Compile a YAML flow; fails the test with the diagnostics if it does not compile."""
    return _compile_yaml


@pytest.fixture
def shared_example() -> Callable[[str], dict[str, Any]]:
    """Compile one of the shared examples by name (e.g. `order_fulfillment`)."""
    return _shared_example


@pytest.fixture
def effects_path() -> list[str]:
    """The search path that makes `rt_test_effects` importable for the runtime."""
    return [str(FIXTURES)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "flowd.db"


@pytest.fixture
async def open_store(
    db_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Any]]:
    """A factory opening the test database (again, after a stop); closes what it opened.

    SQLite; with FLOWYARD_TEST_STORE=postgresql, a schema of a throwaway
    PostgreSQL cluster instead (the whole runtime suite on the other store)."""
    opened: list[Any] = []
    on_postgres = os.environ.get("FLOWYARD_TEST_STORE") == "postgresql"
    dsn = request.getfixturevalue("postgres_cluster").dsn if on_postgres else ""
    schema = f"rt_{os.getpid()}_{db_path.parent.name.replace('-', '_')}"

    async def factory() -> Any:
        if on_postgres:
            from flowyard.interpreter.store import PostgresStore

            store: Any = await PostgresStore.open(dsn, schema=schema)
        else:
            store = await SQLiteStore.open(db_path, synchronous="NORMAL")
        opened.append(store)
        return store

    yield factory
    for store in opened:
        with contextlib.suppress(Exception):
            await store.close()


@pytest.fixture
def effects() -> ModuleType:
    """The test effects module, with fresh state; importable as `rt_test_effects`."""
    import importlib
    import sys

    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    module = importlib.import_module("rt_test_effects")
    module.reset()
    return module


async def _eventually(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    import asyncio
    import inspect

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """`await eventually(predicate)`: poll (real time) until the predicate holds."""
    return _eventually


class RecordingServer:
    """A local HTTP server that records requests and answers from a script.

    `script[path]` is a list of statuses answered in turn (the last one
    repeats); unscripted paths answer 200. Every answer is JSON.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.script: dict[str, list[int]] = {}
        self.url = ""

    def on(self, path: str) -> list[tuple[str, dict[str, str], Any]]:
        return [r for r in self.requests if r[0] == path]

    async def handle(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json() if request.can_read_body else None
        self.requests.append((request.path, dict(request.headers), body))
        statuses = self.script.get(request.path, [200])
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        return web.json_response({"path": request.path, "status": status}, status=status)


@pytest.fixture
async def http_server() -> AsyncIterator[RecordingServer]:
    """A `RecordingServer` on a free local port."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    recorder = RecordingServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    recorder.url = str(server.make_url("")).rstrip("/")
    yield recorder
    await server.close()
