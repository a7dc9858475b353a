"""A dead letter has one source, the same in the live output, `GET /dead-letters` and the docs;
a signal that fails its schema over HTTP is a dead letter, as one from a file is."""

from __future__ import annotations

from http_helpers import Harness


async def stored_sources(h: Harness) -> list[str]:
    status, body = await h.get("/dead-letters")
    assert status == 200
    return [letter["source"] for letter in body["dead_letters"]]


async def test_an_http_event_is_named_http_topic_everywhere(h: Harness) -> None:
    status, _ = await h.post("/events/things", {"type": "created", "id": "t-1"})
    assert status == 422
    status, _ = await h.post(
        "/events/things", {"type": "created", "id": "t-2"}, headers={"Idempotency-Key": "k7"}
    )
    assert status == 422
    shown = [source for source, _ in h.dead_letters]
    assert shown == ["http:things", "http:things:k7#0"]
    assert await stored_sources(h) == shown


async def test_a_signal_failing_its_schema_over_http_is_a_dead_letter(h: Harness) -> None:
    status, _ = await h.post("/events/things", {"type": "created", "id": "t-1", "size": 3})
    assert status == 202
    await h.settle()
    status, body = await h.post("/signals/things/t-1/approve", {"ok": "yes"})
    assert (status, body["error"]) == (422, "schema violation")
    status, body = await h.post(
        "/signals/things/t-1/approve", {"ok": 1}, headers={"Idempotency-Key": "s1"}
    )
    assert (status, body["error"]) == (422, "schema violation")
    status, letters = await h.get("/dead-letters")
    assert letters["count"] == 2
    reasons = [letter["reason"] for letter in letters["dead_letters"]]
    assert all("things.approve: schema violation" in reason for reason in reasons)
    assert '"ok": "yes"' in letters["dead_letters"][0]["payload"]
    shown = [source for source, _ in h.dead_letters]
    assert shown == ["signal:things:t-1", "signal:things:t-1:s1"]
    assert await stored_sources(h) == shown
    await h.settle()
    assert len(await h.store.journal("things", "t-1")) == 1
