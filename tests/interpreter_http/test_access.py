"""Access control: the operator token on mutations (and reads off loopback), 401
without it, callbacks authorised by their own token, and no start without a
token beyond loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from flowyard.interpreter.cli import main
from flowyard.interpreter.http import create_app
from flowyard.interpreter.http.access import add_access_control, is_loopback
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.store import SQLiteStore
from http_helpers import Effects, compile_things

TOKEN = "s3cret-operator-token"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
MUTATIONS = [
    ("/events/things", {"type": "created", "id": "t-9", "size": 1}),
    ("/signals/things/t-1/approve", {"ok": True}),
    ("/instances/things/t-1/retry", None),
    ("/instances/things/t-1/cancel", {"reason": "test"}),
    ("/dead-letters/1/replay", None),
]


async def guarded_client(
    db_path: Path, *, protect_reads: bool
) -> tuple[TestClient[Any, Any], Runtime, Effects]:
    effects = Effects()
    store = await SQLiteStore.open(db_path, synchronous="NORMAL")
    runtime = Runtime(
        store,
        [compile_things()],
        effect_overrides={"check": effects.check, "confirm": effects.confirm},
    )
    await runtime.start()
    app = create_app(runtime)
    add_access_control(app, TOKEN, protect_reads=protect_reads)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client, runtime, effects


@pytest.fixture
async def off_loopback(
    db_path: Path,
) -> AsyncIterator[tuple[TestClient[Any, Any], Runtime, Effects]]:
    client, runtime, effects = await guarded_client(db_path, protect_reads=True)
    yield client, runtime, effects
    await client.close()
    await runtime.drain_and_stop()


async def test_every_mutation_needs_the_token(
    off_loopback: tuple[TestClient[Any, Any], Runtime, Effects],
) -> None:
    client, runtime, _ = off_loopback
    for path, body in MUTATIONS:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = await client.post(path, json=body, headers=headers)
            assert response.status == 401, (path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await response.json())["error"] == "unauthorized"
    assert await runtime.get_instance("things", "t-9") is None  # nothing got through

    response = await client.post(
        "/events/things", json={"type": "created", "id": "t-1", "size": 1}, headers=GOOD
    )
    assert response.status == 202
    await runtime.wait_idle()
    response = await client.post("/signals/things/t-1/approve", json={"ok": True}, headers=GOOD)
    assert response.status == 202
    response = await client.post("/instances/things/t-1/cancel", json={}, headers=GOOD)
    assert response.status in (202, 409)  # done or cancelled: authorised either way


async def test_reads_off_loopback_need_it_too_but_not_liveness(
    off_loopback: tuple[TestClient[Any, Any], Runtime, Effects],
) -> None:
    client, _, _ = off_loopback
    assert (await client.get("/instances/things")).status == 401
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/instances/things", headers=GOOD)).status == 200
    assert (await client.get("/healthz")).status == 200


async def test_on_loopback_reads_stay_open_and_callbacks_use_their_own_token(
    db_path: Path,
) -> None:
    client, runtime, effects = await guarded_client(db_path, protect_reads=False)
    try:
        assert (await client.get("/instances/things")).status == 200
        await client.post(
            "/events/things", json={"type": "created", "id": "t-1", "size": 1}, headers=GOOD
        )
        await runtime.wait_idle()
        await client.post("/signals/things/t-1/approve", json={"ok": True}, headers=GOOD)
        await runtime.wait_idle()
        await client.post("/events/things", json={"type": "shipped", "id": "t-1"}, headers=GOOD)
        await runtime.wait_idle()
        token = effects.callback_tokens["t-1"]
        response = await client.post(f"/callbacks/{token}", json={"tracking": "x"})
        assert response.status == 202  # no operator token: the callback's own is enough
        await runtime.wait_idle()
        instance = await runtime.get_instance("things", "t-1")
        assert instance is not None and instance.state == "done"
    finally:
        await client.close()
        await runtime.drain_and_stop()


def test_flowd_refuses_to_listen_beyond_loopback_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOWD_TOKEN", raising=False)
    flow = tmp_path / "x.flow.yaml"
    flow.write_text("flow: x\n", encoding="utf-8")
    code = main(["run", str(flow), "--http", "0.0.0.0:0", "--store", str(tmp_path / "s.db")])
    assert code == 2
    assert "reachable from other machines" in capsys.readouterr().err
    empty = tmp_path / "token"
    empty.write_text("\n", encoding="utf-8")
    code = main(["run", str(flow), "--http", "0.0.0.0:0", "--token-file", str(empty)])
    assert code == 2
    assert "the file is empty" in capsys.readouterr().err


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
    assert not is_loopback("example.org")


def test_python_effects_come_from_the_project_unless_the_operator_allows_more(
    tmp_path: Path,
) -> None:
    from flowyard.interpreter.runtime.effects.python import EffectLoadError, PythonEffectLoader

    (tmp_path / "own_effects.py").write_text("async def go(args, ctx):\n    return 1\n")
    loader = PythonEffectLoader([str(tmp_path)], allowed_modules=[])
    assert loader.load("own_effects", "go") is not None
    with pytest.raises(EffectLoadError, match="--allow-module asyncio"):
        loader.load("asyncio", "sleep")
    allowing = PythonEffectLoader([str(tmp_path)], allowed_modules=["asyncio"])
    assert allowing.load("asyncio", "sleep") is not None
    with pytest.raises(EffectLoadError, match="not allowed"):
        allowing.load("asyncio_extra_but_not_under", "x")
    assert PythonEffectLoader([str(tmp_path)]).load("asyncio", "sleep") is not None  # no list
