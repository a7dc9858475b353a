"""Signals, callbacks, instance queries and operator routes."""

from __future__ import annotations

from typing import Any

from http_helpers import Harness


async def open_thing(h: Harness, key: str, size: int = 3) -> None:
    status, _ = await h.post("/events/things", {"type": "created", "id": key, "size": size})
    assert status == 202
    await h.settle()


async def state_of(h: Harness, key: str) -> dict[str, Any]:
    status, body = await h.get(f"/instances/things/{key}")
    assert status == 200, body
    return dict(body)


async def test_healthz(h: Harness) -> None:
    status, body = await h.get("/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["flows"] == ["things"]


async def test_healthz_is_503_once_draining(h: Harness) -> None:
    await h.runtime.drain_and_stop()
    status, body = await h.get("/healthz")
    assert status == 503
    assert body["status"] == "stopped"
    status, body = await h.post("/events/things", {"type": "created", "id": "x", "size": 1})
    assert status == 503
    assert body["error"] == "not running"


async def test_signal_moves_the_instance(h: Harness) -> None:
    await open_thing(h, "t-1", size=4)
    status, body = await h.post("/signals/things/t-1/approve", {"ok": True})
    assert status == 202
    assert body == {"status": "accepted", "flow": "things", "key": "t-1", "signal": "approve"}
    await h.settle()
    instance = await state_of(h, "t-1")
    assert instance["state"] == "approved"
    assert instance["data"]["checked"] == {"ok": True, "size": 4}


async def test_signal_errors(h: Harness) -> None:
    await open_thing(h, "t-1")
    status, body = await h.post("/signals/nope/t-1/approve", {"ok": True})
    assert (status, body["error"]) == (404, "unknown flow")
    status, body = await h.post("/signals/things/ghost/approve", {"ok": True})
    assert (status, body["error"]) == (404, "unknown instance")
    status, body = await h.post("/signals/things/t-1/reject", {"ok": True})
    assert (status, body["error"]) == (404, "unknown signal")
    assert "approve" in body["detail"]
    status, body = await h.post("/signals/things/t-1/approve", {"ok": "yes"})
    assert (status, body["error"]) == (422, "schema violation")
    assert any("ok" in v for v in body["errors"])
    status, body = await h.post("/signals/things/t-1/approve", data=b"{nope")
    assert (status, body["error"]) == (400, "malformed JSON")
    await h.settle()
    assert len(await h.store.journal("things", "t-1")) == 1


async def test_signal_to_a_finished_instance_is_409(h: Harness) -> None:
    await open_thing(h, "t-1")
    await h.post("/signals/things/t-1/approve", {"ok": False})
    await h.settle()
    assert (await state_of(h, "t-1"))["status"] == "completed"
    status, body = await h.post("/signals/things/t-1/approve", {"ok": False})
    assert (status, body["error"]) == (409, "instance finished")


async def test_signal_for_an_instance_still_in_its_inbox_is_accepted(h: Harness) -> None:
    # No settle between the event and the signal: the instance does not exist
    # yet, but its first input waits in the inbox.
    await h.post("/events/things", {"type": "created", "id": "t-2", "size": 1})
    status, _ = await h.post("/signals/things/t-2/approve", {"ok": False})
    assert status == 202
    await h.settle()
    assert (await state_of(h, "t-2"))["state"] == "rejected"


async def test_signal_with_idempotency_key_is_applied_once(h: Harness) -> None:
    await open_thing(h, "t-1")
    headers = {"Idempotency-Key": "sig-1"}
    first = await h.post("/signals/things/t-1/approve", {"ok": False}, headers=headers)
    second = await h.post("/signals/things/t-1/approve", {"ok": False}, headers=headers)
    assert first == second == (202, first[1])
    await h.settle()
    assert len(await h.store.journal("things", "t-1")) == 2


async def test_callback_completes_the_call(h: Harness) -> None:
    await open_thing(h, "t-1")
    await h.post("/signals/things/t-1/approve", {"ok": True})
    await h.settle()
    await h.post("/events/things", {"type": "shipped", "id": "t-1"})
    await h.settle()
    instance = await state_of(h, "t-1")
    assert (instance["state"], instance["status"]) == ("approved", "running")
    token = h.effects.callback_tokens["t-1"]
    status, body = await h.post(f"/callbacks/{token}", {"tracking": "TRK1"})
    assert (status, body) == (202, {"status": "resolved"})
    await h.settle()
    instance = await state_of(h, "t-1")
    assert (instance["state"], instance["status"]) == ("done", "completed")
    assert instance["data"]["confirmation"] == {"tracking": "TRK1"}
    # A second delivery of the same callback is accepted and changes nothing.
    assert (await h.post(f"/callbacks/{token}", {"tracking": "TRK2"}))[0] == 202
    await h.settle()
    assert (await state_of(h, "t-1"))["data"]["confirmation"] == {"tracking": "TRK1"}


async def test_callback_with_error_fails_the_call(h: Harness) -> None:
    await open_thing(h, "t-1")
    await h.post("/signals/things/t-1/approve", {"ok": True})
    await h.settle()
    await h.post("/events/things", {"type": "shipped", "id": "t-1"})
    await h.settle()
    token = h.effects.callback_tokens["t-1"]
    status, body = await h.post(f"/callbacks/{token}?error=refused", data=b"")
    assert (status, body) == (202, {"status": "failed"})
    await h.settle()
    instance = await state_of(h, "t-1")
    assert instance["status"] == "incident"
    assert "refused" in instance["incident"]["reason"]
    # The call has failed: a later callback is told so, and changes nothing.
    status, body = await h.post(f"/callbacks/{token}", {"tracking": "late"})
    assert (status, body["error"]) == (410, "callback closed")
    assert "refused" in body["detail"]


async def test_unknown_callback_token_is_404(h: Harness) -> None:
    status, body = await h.post("/callbacks/" + "0" * 40, {"x": 1})
    assert (status, body["error"]) == (404, "unknown callback")


async def test_list_instances_by_state_and_status(h: Harness) -> None:
    for key in ("a", "b", "c"):
        await open_thing(h, key)
    await h.post("/signals/things/b/approve", {"ok": False})
    await h.settle()
    status, body = await h.get("/instances/things?state=open")
    assert status == 200
    assert [i["key"] for i in body["instances"]] == ["a", "c"]
    status, body = await h.get("/instances/things?status=completed")
    assert [i["key"] for i in body["instances"]] == ["b"]
    status, body = await h.get("/instances/things?limit=1")
    assert body["count"] == 1
    assert (await h.get("/instances/things?limit=zero"))[0] == 400
    assert (await h.get("/instances/nope"))[0] == 404
    assert (await h.get("/instances/things/ghost"))[0] == 404


async def test_incident_retry_and_cancel(h: Harness) -> None:
    h.effects.fail_check = True
    await open_thing(h, "t-1")
    await h.post("/signals/things/t-1/approve", {"ok": True})
    await h.settle()
    status, body = await h.get("/incidents")
    assert status == 200
    assert [(i["flow"], i["key"]) for i in body["incidents"]] == [("things", "t-1")]
    assert "checker is down" in body["incidents"][0]["incident"]["reason"]

    h.effects.fail_check = False
    status, body = await h.post("/instances/things/t-1/retry")
    assert (status, body["status"]) == (202, "retry requested")
    await h.settle()
    assert (await state_of(h, "t-1"))["state"] == "approved"
    assert len(h.effects.checks) == 2
    status, body = await h.post("/instances/things/t-1/retry")
    assert (status, body["error"]) == (409, "not an incident")

    for bad, error in (([], "bad body"), ({"reason": 5}, "bad reason")):
        status, body = await h.post("/instances/things/t-1/cancel", bad)
        assert (status, body["error"]) == (422, error)
    status, _ = await h.post("/instances/things/t-1/cancel", {"reason": "customer left"})
    assert status == 202
    await h.settle()
    assert (await state_of(h, "t-1"))["status"] == "cancelled"
    status, body = await h.post("/instances/things/t-1/cancel")
    assert (status, body["error"]) == (409, "instance finished")
    assert (await h.post("/instances/things/ghost/cancel"))[0] == 404
    assert (await h.post("/instances/things/ghost/retry"))[0] == 404


async def test_unknown_route_is_a_json_404(h: Harness) -> None:
    status, body = await h.get("/nothing/here")
    assert status == 404
    assert body["error"] == "Not Found"
