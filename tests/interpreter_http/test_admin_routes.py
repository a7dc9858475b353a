"""An instance's history, emitted records and dead-letter replay over HTTP."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from flowyard.compiler.api import compile_text
from flowyard.interpreter.history import json_diff
from flowyard.interpreter.http import create_app
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.store import SQLiteStore
from http_helpers import Harness


async def incident_then_retry(h: Harness, key: str) -> None:
    await h.post("/events/things", {"type": "created", "id": key, "size": 3})
    await h.settle()
    h.effects.fail_check = True
    await h.post(f"/signals/things/{key}/approve", {"ok": True})
    await h.settle()
    h.effects.fail_check = False
    status, _ = await h.post(f"/instances/things/{key}/retry")
    assert status == 202
    await h.settle()


def kinds(items: list[dict[str, Any]]) -> list[str]:
    return [item["kind"] for item in items]


async def test_history_tells_the_incident_and_its_retry(h: Harness) -> None:
    await incident_then_retry(h, "t-1")
    status, body = await h.get("/instances/things/t-1/history")
    assert status == 200, body
    assert body["replay_problem"] is None
    assert body["next_after_seq"] is None
    items = body["items"]
    assert items[0]["input"] == "event"
    assert items[0]["source"] == {"topic": "things"}
    assert items[1]["kind"] == "created"
    assert items[1]["state"] == "new"
    opened = next(i for i in items if i["kind"] == "entered" and i["to"] == "open")
    assert opened["from"] == "new"
    assert opened["transition"] == "new/on/Created/0"
    data = next(i for i in items if i["kind"] == "data")
    assert {"op": "replace", "path": "/size", "old": 0, "new": 3} in data["changes"]
    approve = next(i for i in items if i["kind"] == "transition" and i["trigger"] == "approve")
    assert (approve["from"], approve["candidate"]) == ("open", 0)
    attempts = [i for i in items if i["kind"] == "effect_attempt"]
    assert [a["outcome"] for a in attempts] == ["error", "ok"]
    assert "checker is down" in attempts[0]["error"]
    calls = {i["call_id"]: i for i in items if i["kind"] == "effect_called"}
    for attempt in attempts:  # the retry re-issues the call: a new call, its own key
        assert attempt["idempotency_key"] == calls[attempt["call_id"]]["idempotency_key"]
    assert all(a["duration_ms"] >= 0 for a in attempts)
    assert "incident" in kinds(items)
    assert any(i["kind"] == "input" and i["input"] == "retry_incident" for i in items)
    assert items[-1]["kind"] in ("entered", "data")
    seqs = [item["seq"] for item in items]
    assert seqs == sorted(seqs)


async def test_history_pages_by_journal_seq(h: Harness) -> None:
    await incident_then_retry(h, "t-1")
    full = (await h.get("/instances/things/t-1/history"))[1]
    seen: list[dict[str, Any]] = []
    after = -1
    for _ in range(20):
        status, page = await h.get(f"/instances/things/t-1/history?after_seq={after}&limit=1")
        assert status == 200
        assert {item["seq"] for item in page["items"]} == {after + 1}
        seen.extend(page["items"])
        if page["next_after_seq"] is None:
            break
        after = page["next_after_seq"]
    assert seen == full["items"]


async def test_history_errors(h: Harness) -> None:
    assert (await h.get("/instances/things/ghost/history"))[0] == 404
    assert (await h.get("/instances/nope/x/history"))[0] == 404
    await h.post("/events/things", {"type": "created", "id": "t-1", "size": 3})
    status, body = await h.get("/instances/things/t-1/history?limit=0")
    assert (status, body["error"]) == (400, "bad limit")
    status, body = await h.get("/instances/things/t-1/history?after_seq=x")
    assert (status, body["error"]) == (400, "bad after_seq")


def test_json_diff_names_each_changed_path() -> None:
    old = {"a": 1, "b": {"c": [1], "d": "x"}, "gone": True, "w/x": 0}
    new = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "new": None, "w/x": 1.5}
    assert json_diff(old, new) == [
        {"op": "replace", "path": "/b/c", "old": [1], "new": [1, 2]},
        {"op": "remove", "path": "/gone", "old": True},
        {"op": "add", "path": "/new", "new": None},
        {"op": "replace", "path": "/w~1x", "old": 0, "new": 1.5},
    ]
    assert json_diff(1, 1.0) == [{"op": "replace", "path": "/", "old": 1, "new": 1.0}]


NOTES_FLOW = """
flow: notes
version: {version}
key: id
events:
  Noted:
    topic: notes
    key: event.id
    schema:
      type: object
      required: [id, size]
      properties:
        id: {{type: string}}
        size: {{type: integer, minimum: {minimum}}}
effects:
  tell:
    emit: {{topic: noted, key: "${{ key }}"}}
initial: open
states:
  open:
    on:
      Noted:
        do:
          - call: tell
            with: {{size: "${{ event.size }}"}}
        goto: done
  done:
    final: true
"""


def notes_ir(minimum: int, version: int = 1) -> dict[str, Any]:
    text = textwrap.dedent(NOTES_FLOW.format(minimum=minimum, version=version))
    ir, diagnostics = compile_text(text, file="notes.flow.yaml", surface="yaml")
    assert ir is not None, "\n".join(str(d) for d in diagnostics)
    return ir


class Notes:
    """A runtime of the notes flow behind a test client, restartable with another IR."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.runtime: Runtime | None = None
        self.client: TestClient[Any, Any] | None = None

    async def start(self, ir: dict[str, Any]) -> TestClient[Any, Any]:
        await self.stop()
        store = await SQLiteStore.open(self.db_path, synchronous="NORMAL")
        self.runtime = Runtime(store, [ir])
        await self.runtime.start()
        self.client = TestClient(TestServer(create_app(self.runtime), host="127.0.0.1"))
        await self.client.start_server()
        return self.client

    async def settle(self) -> None:
        assert self.runtime is not None
        await self.runtime.wait_idle()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.runtime is not None:
            await self.runtime.drain_and_stop()
        self.client = self.runtime = None


@pytest.fixture
async def notes(tmp_path: Path) -> AsyncIterator[Notes]:
    running = Notes(tmp_path / "notes.db")
    yield running
    await running.stop()


async def test_emitted_lists_what_flows_emitted(notes: Notes) -> None:
    client = await notes.start(notes_ir(minimum=0))
    for n in range(3):
        response = await client.post("/events/notes", json={"id": f"n-{n}", "size": n})
        assert response.status == 202
    await notes.settle()
    assert notes.runtime is not None
    for _ in range(100):  # the outbox relay runs on its own; bounded wait for it
        body = await (await client.get("/emitted")).json()
        if len(body["log"]) == 3:
            break
        await notes.runtime.wait_idle()
        await asyncio.sleep(0.02)
    assert body["topics"] == ["noted"]
    assert [(r["key"], r["value"]) for r in body["log"]] == [
        (f"n-{n}", {"size": n}) for n in range(3)
    ]
    page = await (await client.get("/emitted?topic=noted&limit=2")).json()
    assert len(page["log"]) == 2
    rest = await (
        await client.get(f"/emitted?topic=noted&after_offset={page['next_after_offset']}")
    ).json()
    assert [r["key"] for r in rest["log"]] == ["n-2"]
    assert rest["next_after_offset"] is None


async def test_a_dead_letter_is_replayed_once_after_the_flow_is_fixed(notes: Notes) -> None:
    client = await notes.start(notes_ir(minimum=0))
    response = await client.post("/events/notes", json={"id": "n-1", "size": -5})
    assert response.status == 422
    [letter] = (await (await client.get("/dead-letters")).json())["dead_letters"]

    response = await client.post(f"/dead-letters/{letter['id']}/replay")
    assert response.status == 422  # still refused by the same flow
    refused = await response.json()
    assert refused["title"] == "replay refused"
    assert "less than the minimum" in refused["detail"]

    client = await notes.start(notes_ir(minimum=-10, version=2))
    response = await client.post(f"/dead-letters/{letter['id']}/replay")
    body = await response.json()
    assert response.status == 202, body
    assert body["deliveries"] == [{"flow": "notes", "key": "n-1", "event": "Noted"}]
    await notes.settle()
    instance = await (await client.get("/instances/notes/n-1")).json()
    assert instance["state"] == "done"
    again = await (await client.post(f"/dead-letters/{letter['id']}/replay")).json()
    assert again.get("duplicate") is True

    assert (await client.post("/dead-letters/999/replay")).status == 404
    assert (await client.post("/dead-letters/abc/replay")).status == 400


async def test_instances_page_by_key(h: Harness) -> None:
    for n in range(5):
        await h.post("/events/things", {"type": "created", "id": f"p-{n}", "size": n})
    await h.settle()
    keys: list[str] = []
    path = "/instances/things?limit=2"
    for _ in range(10):
        status, body = await h.get(path)
        assert status == 200
        keys += [item["key"] for item in body["instances"]]
        if body["next_after"] is None:
            break
        path = f"/instances/things?limit=2&after={body['next_after']}"
    assert keys == [f"p-{n}" for n in range(5)]


async def test_history_without_the_program_still_tells_the_journal(h: Harness) -> None:
    from flowyard.interpreter.history import instance_history, render_text

    await incident_then_retry(h, "t-1")
    page = await instance_history(h.store, "things", "t-1", lambda ir_hash: None)
    assert page is not None
    assert page.replay_problem == "its IR is not loaded"
    kinds_seen = {item.kind for item in page.items}
    assert {"input", "transition", "effect_attempt", "incident", "note"} <= kinds_seen
    assert "data" not in kinds_seen  # data diffs need the replay
    assert "(no data changes shown: its IR is not loaded)" in render_text(page.to_json())
