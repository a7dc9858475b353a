"""Input the store cannot hold, or over a size bound, is refused where it enters.

A lone surrogate (`"\\ud800"`) is valid JSON text that no UTF-8 encodes, and an
integer of thousands of digits cannot be written back as text: accepted, either
failed the commit of its key on every retry. They are 400s now; sizes beyond
the configured bounds are 413s.
"""

from __future__ import annotations

from flowyard.interpreter.storable import Bounds
from http_helpers import Harness, HarnessFactory

SURROGATE_EVENT = b'{"type": "created", "id": "t-\\ud800", "size": 1}'


async def _approved_awaiting_callback(h: Harness, key: str) -> str:
    await h.post("/events/things", {"type": "created", "id": key, "size": 1})
    await h.post(f"/signals/things/{key}/approve", {"ok": True})
    await h.settle()
    await h.post("/events/things", {"type": "shipped", "id": key})
    await h.settle()
    return h.effects.callback_tokens[key]


async def test_a_lone_surrogate_in_an_event_is_400_and_nothing_is_stored(h: Harness) -> None:
    status, body = await h.post("/events/things", data=SURROGATE_EVENT)
    assert status == 400
    assert "lone surrogate (U+D800)" in body["detail"]
    # A lone surrogate in an object key, too.
    status, body = await h.post("/events/things", data=b'{"\\udc00": 1}')
    assert status == 400 and "object key" in body["detail"]
    # Nothing was stored, and the process goes on serving.
    assert (await h.get("/instances/things?limit=10"))[1]["instances"] == []
    status, _ = await h.post("/events/things", {"type": "created", "id": "t-1", "size": 1})
    assert status == 202


async def test_an_escaped_pair_is_one_character_and_accepted(h: Harness) -> None:
    status, _ = await h.post(
        "/events/things", data=b'{"type": "created", "id": "t-\\ud83d\\ude00", "size": 1}'
    )
    assert status == 202
    await h.settle()
    assert (await h.get("/instances/things/t-\U0001f600"))[0] == 200


async def test_an_integer_too_long_to_store_is_400(h: Harness) -> None:
    digits = "9" * 1200
    status, body = await h.post(
        "/events/things", data=b'{"type": "created", "id": "t-1", "size": ' + digits.encode() + b"}"
    )
    assert status == 400 and "too large to store" in body["detail"]


async def test_a_signal_with_a_lone_surrogate_is_400(h: Harness) -> None:
    await h.post("/events/things", {"type": "created", "id": "t-1", "size": 1})
    await h.settle()
    status, body = await h.post("/signals/things/t-1/approve", data=b'{"ok": true, "n": "\\ud800"}')
    assert status == 400 and "lone surrogate" in body["detail"]


async def test_a_callback_with_a_lone_surrogate_is_400_and_the_call_still_waits(
    h: Harness,
) -> None:
    token = await _approved_awaiting_callback(h, "t-1")
    status, body = await h.post(f"/callbacks/{token}", data=b'{"tracking": "\\udfff"}')
    assert status == 400 and "lone surrogate" in body["detail"]
    await h.settle()
    assert (await h.get("/instances/things/t-1"))[1]["status"] == "running"
    # A good callback still completes it.
    assert (await h.post(f"/callbacks/{token}", {"tracking": "TRK1"}))[0] == 202
    await h.settle()
    assert (await h.get("/instances/things/t-1"))[1]["status"] == "completed"


async def test_sizes_beyond_the_bounds_are_413(make_harness: HarnessFactory) -> None:
    h = await make_harness(
        bounds=Bounds(max_body_bytes=2000, max_events_per_request=3, max_result_bytes=100)
    )
    events = [{"type": "created", "id": f"t-{i}", "size": 1} for i in range(4)]
    status, body = await h.post("/events/things", events)
    assert status == 413 and "--max-events-per-request" in body["detail"]
    status, _ = await h.post("/events/things", data=b"[" + b"1," * 2000 + b"1]")
    assert status == 413
    token = await _approved_awaiting_callback(h, "t-1")
    status, body = await h.post(f"/callbacks/{token}", {"tracking": "x" * 200})
    assert status == 413 and "--max-result-bytes" in body["detail"]
    assert (await h.post("/events/things", events[:3]))[0] == 202
