"""Overload protection: a bound on effect attempts in flight, 429 with
Retry-After on a backlog, and the backlog count kept in step with the store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from flowyard.interpreter.http import create_app
from flowyard.interpreter.http.overload import add_backlog_guard
from flowyard.interpreter.metrics import Metrics
from flowyard.interpreter.runtime import EffectContext, IncomingRecord, Runtime
from flowyard.interpreter.store import SQLiteStore
from http_helpers import Effects, compile_things


class Gate:
    """A `check` effect that counts how many attempts run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def check(self, args: Any, ctx: EffectContext) -> Any:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.wait_for(self.release.wait(), 20)
        finally:
            self.running -= 1
        return {"ok": True}


async def test_effect_attempts_in_flight_never_pass_the_bound(db_path: Path) -> None:
    gate = Gate()
    store = await SQLiteStore.open(db_path, synchronous="NORMAL")
    runtime = Runtime(
        store,
        [compile_things()],
        effect_overrides={"check": gate.check, "confirm": Effects().confirm},
        max_effects_in_flight=3,
    )
    await runtime.start()
    try:
        keys = [f"k-{n}" for n in range(10)]
        records = [IncomingRecord(value={"type": "created", "id": k, "size": 1}) for k in keys]
        await runtime.ingest_events("things", records)
        await runtime.wait_idle()
        for key in keys:
            await runtime.signal("things", key, "approve", {"ok": True})
        for _ in range(200):  # bounded wait until every call is running or waiting
            if runtime.effect_attempts_running + runtime.effect_calls_waiting == len(keys):
                break
            await asyncio.sleep(0.01)
        assert runtime.effect_attempts_running == 3
        assert runtime.effect_calls_waiting == len(keys) - 3
        gate.release.set()
        await runtime.wait_idle()
        assert gate.most == 3
        for key in keys:
            instance = await runtime.get_instance("things", key)
            assert instance is not None and instance.state == "approved"
        assert runtime.effect_calls_waiting == 0
    finally:
        await runtime.drain_and_stop()


async def test_posts_answer_429_with_retry_after_while_the_backlog_is_full() -> None:
    waiting = {"now": 0}

    async def accept(request: web.Request) -> web.Response:
        return web.json_response({"status": "accepted"}, status=202)

    app = web.Application()
    app.router.add_post("/events/{topic}", accept)
    app.router.add_post("/signals/{flow}/{key}/{signal}", accept)
    app.router.add_get("/healthz", accept)
    add_backlog_guard(app, lambda: waiting["now"], bound=5, retry_after_s=2)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        assert (await client.post("/events/t", json={})).status == 202
        waiting["now"] = 5
        for path in ("/events/t", "/signals/f/k/s"):
            response = await client.post(path, json={})
            assert response.status == 429
            assert response.headers["Retry-After"] == "2"
            body = await response.json()
            assert body["error"] == "too many requests"
            assert "bound 5" in body["detail"]
        assert (await client.get("/healthz")).status == 202  # reads are never refused
        waiting["now"] = 4
        assert (await client.post("/events/t", json={})).status == 202
    finally:
        await client.close()


async def test_the_inbox_depth_follows_the_store(db_path: Path) -> None:
    metrics = Metrics()
    effects = Effects(check_delays={"t-1": 0.3})
    store = metrics.wrap_store(await SQLiteStore.open(db_path, synchronous="NORMAL"))
    await metrics.load_inbox_depth(store)
    runtime = Runtime(
        store,
        [compile_things()],
        effect_overrides={"check": effects.check, "confirm": effects.confirm},
        step_on_arrival=False,
    )
    await runtime.start()
    app = create_app(runtime)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()

    def stored() -> int:
        with sqlite3.connect(db_path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])

    try:
        await client.post("/events/things", json={"type": "created", "id": "t-1", "size": 1})
        await runtime.wait_idle()
        await client.post("/signals/things/t-1/approve", json={"ok": True})
        await asyncio.sleep(0.05)  # the check runs for 0.3 s: the next input waits in the inbox
        await client.post("/events/things", json={"type": "shipped", "id": "t-1"})
        assert metrics.inbox_depth == stored() >= 1
        await runtime.wait_idle()
        assert metrics.inbox_depth == stored() == 0
    finally:
        await client.close()
        await runtime.drain_and_stop()


CONCURRENT_FLOW = """
flow conc version 1
key id
event E { topic "t" key event.id }
effect slow {
  python "m:f"
  timeout 20s
  concurrency 2
}
initial s
state s {
  on E { call slow goto d }
}
state d final
"""


def test_concurrency_of_an_effect_is_in_both_surfaces_and_checked() -> None:
    from flowyard.compiler.api import compile_text

    dsl_ir, problems = compile_text(CONCURRENT_FLOW, file="conc.flow", surface="dsl")
    assert dsl_ir is not None, problems
    assert dsl_ir["definition"]["effects"]["slow"]["concurrency"] == 2
    yaml_text = CONCURRENT_FLOW.replace("concurrency 2", "concurrency 0")
    ir, problems = compile_text(yaml_text, file="conc.flow", surface="dsl")
    assert ir is None
    assert [p.code for p in problems if p.code == "FY504"] == ["FY504"]
    things = compile_things()
    assert "concurrency" not in things["definition"]["effects"]["check"]  # IR hashes stay


async def test_an_effect_with_concurrency_runs_at_most_that_many_at_once(db_path: Path) -> None:
    from flowyard.compiler.api import compile_text

    ir, problems = compile_text(CONCURRENT_FLOW, file="conc.flow", surface="dsl")
    assert ir is not None, problems
    gate = Gate()
    runtime = Runtime(
        await SQLiteStore.open(db_path, synchronous="NORMAL"),
        [ir],
        effect_overrides={"slow": gate.check},
    )
    await runtime.start()
    try:
        records = [IncomingRecord(value={"id": f"k-{n}"}) for n in range(6)]
        await runtime.ingest_events("t", records)
        for _ in range(200):  # bounded wait until every call is running or waiting
            if runtime.effect_attempts_running + runtime.effect_calls_waiting == 6:
                break
            await asyncio.sleep(0.01)
        assert runtime.effect_attempts_running == 2
        gate.release.set()
        await runtime.wait_idle()
        assert gate.most == 2
    finally:
        await runtime.drain_and_stop()


async def test_http_effects_share_a_pool_with_a_per_host_limit() -> None:
    from flowyard.interpreter.runtime.effects.http import HttpEffectRunner, HttpRequest

    state = {"now": 0, "most": 0}

    async def slow(request: web.Request) -> web.Response:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        await asyncio.sleep(0.1)
        state["now"] -= 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/work", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    runner = HttpEffectRunner(per_host=2)
    try:
        url = str(server.make_url("/work"))
        answers = await asyncio.gather(
            *(
                runner.send(HttpRequest(method="POST", url=url, body={"n": n}), f"k-{n}")
                for n in range(6)
            )
        )
        assert [a["status"] for a in answers] == [200] * 6
        assert state["most"] == 2
    finally:
        await runner.close()
        await server.close()
