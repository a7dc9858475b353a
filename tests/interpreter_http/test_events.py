"""POST /events/{topic}: acceptance, idempotency and bad input."""

from __future__ import annotations

import io
from typing import Any

from http_helpers import Harness, HarnessFactory, stop


def created(key: str, size: int = 3) -> dict[str, Any]:
    return {"type": "created", "id": key, "size": size}


async def journal_count(h: Harness, key: str) -> int:
    return len(await h.store.journal("things", key))


async def test_one_event_is_accepted_and_applied(h: Harness) -> None:
    status, body = await h.post("/events/things", created("t-1", 7))
    assert status == 202
    assert body["accepted"] == 1
    assert body["results"] == [
        {
            "status": "accepted",
            "deliveries": [{"flow": "things", "key": "t-1", "event": "Created"}],
        }
    ]
    await h.settle()
    status, instance = await h.get("/instances/things/t-1")
    assert status == 200
    assert instance["state"] == "open"
    assert instance["status"] == "active"
    assert instance["data"]["size"] == 7
    assert instance["version"] == 1
    assert instance["ir_hash"] == h.runtime.current_version("things").hash  # type: ignore[union-attr]


async def test_an_array_is_accepted_event_by_event(h: Harness) -> None:
    events = [created("t-1"), created("t-2"), {"type": "created", "id": "t-3", "size": -1}]
    status, body = await h.post("/events/things", events)
    assert status == 202
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "dead_lettered"]
    assert "minimum" in body["results"][2]["reasons"][0]
    assert (body["accepted"], body["dead_lettered"]) == (2, 1)


async def test_same_idempotency_key_is_applied_once_with_the_same_answer(h: Harness) -> None:
    headers = {"Idempotency-Key": "req-1"}
    first = await h.post("/events/things", [created("t-1"), created("t-2")], headers=headers)
    second = await h.post("/events/things", [created("t-1"), created("t-2")], headers=headers)
    assert first == second
    assert first[0] == 202
    await h.settle()
    assert await journal_count(h, "t-1") == 1
    assert await journal_count(h, "t-2") == 1


async def test_idempotency_survives_a_restart(make_harness: HarnessFactory) -> None:
    headers = {"Idempotency-Key": "req-restart"}
    h1 = await make_harness()
    status, body = await h1.post("/events/things", created("t-9"), headers=headers)
    assert status == 202 and body["accepted"] == 1
    await h1.settle()
    await stop(h1)
    h2 = await make_harness()
    status, body = await h2.post("/events/things", created("t-9"), headers=headers)
    assert status == 202
    assert body["results"][0]["status"] == "accepted"
    assert body["results"][0]["duplicate"] is True
    await h2.settle()
    assert await journal_count(h2, "t-9") == 1


async def test_reusing_a_key_for_another_request_is_refused(h: Harness) -> None:
    headers = {"Idempotency-Key": "req-2"}
    assert (await h.post("/events/things", created("t-1"), headers=headers))[0] == 202
    status, body = await h.post("/events/things", created("t-2"), headers=headers)
    assert status == 422
    assert body["error"] == "Idempotency-Key reused"


async def test_without_a_key_each_post_is_a_new_event(h: Harness) -> None:
    await h.post("/events/things", created("t-1"))
    await h.post("/events/things", {"type": "shipped", "id": "t-1"})
    await h.post("/events/things", {"type": "shipped", "id": "t-1"})
    await h.settle()
    assert await journal_count(h, "t-1") == 3


async def test_an_event_that_cannot_start_an_instance_is_a_dead_letter(h: Harness) -> None:
    status, _ = await h.post("/events/things", {"type": "shipped", "id": "stray"})
    assert status == 202  # routed and stored; the flow refuses it when it applies it
    await h.settle()
    assert await h.runtime.get_instance("things", "stray") is None
    assert await journal_count(h, "stray") == 0
    assert await h.store.inbox_for("things", "stray") == []
    (letter,) = await h.store.dead_letters()
    assert letter.topic == "things"
    assert "things/stray has no instance" in letter.reason
    assert "neither handles nor defers the event 'Shipped'" in letter.reason
    assert '"id": "stray"' in letter.payload
    assert h.dead_letters == [(letter.source, letter.reason)]


async def test_malformed_json_is_a_400(h: Harness) -> None:
    status, body = await h.post("/events/things", data=b'{"type": "created", ')
    assert status == 400
    assert body["error"] == "malformed JSON"
    assert body["detail"]


async def test_nan_infinity_and_overflowing_numbers_are_malformed_json(h: Harness) -> None:
    for text, why in [
        (b'{"type": "created", "id": "n", "extra": NaN}', "NaN is not JSON"),
        (b'{"type": "created", "id": "n", "extra": -Infinity}', "-Infinity is not JSON"),
        (b'{"type": "created", "id": "n", "extra": 1e999}', "too large for a double"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ]:
        status, body = await h.post("/events/things", data=text)
        assert (status, body["error"]) == (400, "malformed JSON")
        assert why in body["detail"]
    assert await h.store.inbox_for("things", "n") == []


async def test_an_event_that_is_a_json_string_is_not_parsed_again(h: Harness) -> None:
    status, body = await h.post("/events/things", "created")
    assert (status, body["ignored"]) == (202, 1)  # a string is no event of `things`


async def test_empty_body_and_empty_array_are_400(h: Harness) -> None:
    assert (await h.post("/events/things", data=b""))[0] == 400
    assert (await h.post("/events/things", []))[0] == 400


async def test_unknown_topic_is_a_404_naming_the_topics(h: Harness) -> None:
    status, body = await h.post("/events/nowhere", created("t-1"))
    assert status == 404
    assert body["error"] == "unknown topic"
    assert "things" in body["detail"]


async def test_schema_violation_is_422_and_dead_lettered(h: Harness) -> None:
    status, body = await h.post("/events/things", {"type": "created", "id": "t-1"})
    assert status == 422
    assert "schema violation" in body["detail"]
    assert h.dead_letters and "schema violation" in h.dead_letters[0][1]
    status, letters = await h.get("/dead-letters")
    assert status == 200
    assert letters["count"] == 1
    assert letters["dead_letters"][0]["topic"] == "things"
    assert '"id": "t-1"' in letters["dead_letters"][0]["payload"]


async def test_event_without_key_is_422_and_dead_lettered(h: Harness) -> None:
    status, body = await h.post("/events/things", {"type": "shipped"})
    assert status == 422
    assert "no key" in body["detail"]
    assert (await h.get("/dead-letters"))[1]["count"] == 1


async def test_event_matching_nothing_is_reported_ignored(h: Harness) -> None:
    status, body = await h.post("/events/things", {"type": "renamed", "id": "t-1"})
    assert status == 202
    assert body["results"][0]["status"] == "ignored"
    assert body["ignored"] == 1


async def test_event_headers_reach_the_runtime(h: Harness) -> None:
    status, _ = await h.post(
        "/events/things", created("t-1"), headers={"X-Event-Header-Trace": "abc"}
    )
    assert status == 202
    await h.settle()
    journal = await h.store.journal("things", "t-1")
    assert journal[0].input["meta"]["headers"] == {"trace": "abc"}


async def test_a_bad_idempotency_key_is_a_400(h: Harness) -> None:
    status, body = await h.post("/events/things", created("t-1"), headers={"Idempotency-Key": " "})
    assert status == 400
    assert body["error"] == "bad Idempotency-Key"


async def test_odd_json_values_are_dead_lettered_not_crashes(h: Harness) -> None:
    for body in (b"123", b"null", b'"text"', b'[1, "x", null]', b"true"):
        status, answer = await h.post("/events/things", data=body)
        assert status in (202, 422), (body, status, answer)
        assert "results" in answer
    status, _ = await h.get("/healthz")
    assert status == 200


async def test_a_body_over_the_limit_is_a_json_413(h: Harness) -> None:
    big = b'{"type": "created", "id": "x", "pad": "' + b"a" * (9 * 1024 * 1024) + b'"}'
    status, body = await h.post("/events/things", data=io.BytesIO(big))
    assert status == 413
    assert body["error"]
