"""An Idempotency-Key belongs to one request, durably, and racing requests under
one key are served one at a time."""

from __future__ import annotations

import asyncio
from typing import Any

from flowyard.interpreter.http.replies import Reply, ReplyCache
from http_helpers import Harness, HarnessFactory, stop


def created(key: str, size: int = 1) -> dict[str, Any]:
    return {"type": "created", "id": key, "size": size}


async def test_a_reused_key_is_refused_after_a_restart(make_harness: HarnessFactory) -> None:
    headers = {"Idempotency-Key": "req-restart"}
    h1 = await make_harness()
    assert (await h1.post("/events/things", created("t-1"), headers=headers))[0] == 202
    await h1.settle()
    await stop(h1)
    h2 = await make_harness()
    status, body = await h2.post("/events/things", created("t-2"), headers=headers)
    assert status == 422 and body["error"] == "Idempotency-Key reused"
    await h2.settle()
    assert await h2.runtime.get_instance("things", "t-2") is None
    # The same request again is still the duplicate it is.
    status, body = await h2.post("/events/things", created("t-1"), headers=headers)
    assert status == 202 and body["results"][0]["duplicate"] is True


async def test_a_key_used_for_an_event_cannot_be_reused_for_a_signal(h: Harness) -> None:
    headers = {"Idempotency-Key": "req-1"}
    assert (await h.post("/events/things", created("t-1"), headers=headers))[0] == 202
    await h.settle()
    status, _ = await h.post("/signals/things/t-1/approve", {"ok": True}, headers=headers)
    assert status == 422


async def test_racing_requests_under_one_key_apply_one_of_them(h: Harness) -> None:
    headers = {"Idempotency-Key": "race"}
    answers = await asyncio.gather(
        *(
            h.post("/events/things", created(f"t-{i}"), headers=headers)
            for i in range(4)
            for _ in range(5)
        )
    )
    await h.settle()
    accepted = [body for status, body in answers if status == 202]
    refused = [body for status, body in answers if status == 422]
    assert len(accepted) + len(refused) == 20
    assert all(body["error"] == "Idempotency-Key reused" for body in refused)
    keys = {d["key"] for body in accepted for r in body["results"] for d in r["deliveries"]}
    assert len(keys) == 1 and len(accepted) == 5  # the five copies of the winning request
    applied = [k for k in (f"t-{i}" for i in range(4)) if await h.runtime.get_instance("things", k)]
    assert applied == list(keys)


async def test_a_key_invalid_requests_used_is_still_free(h: Harness) -> None:
    headers = {"Idempotency-Key": "req-fix"}
    status, _ = await h.post("/events/nowhere", created("t-1"), headers=headers)
    assert status == 404
    assert (await h.post("/events/things", created("t-1"), headers=headers))[0] == 202


def test_remembered_replies_are_bounded_in_bytes() -> None:
    cache = ReplyCache(1000, max_bytes=10_000, max_reply_bytes=2_000)
    for i in range(100):
        cache.put(f"k{i}", "f", Reply(202, {"text": "x" * 1_000}))
    assert cache.bytes <= 10_000 and len(cache) < 10
    assert cache.get("k99", "f") is not None and cache.get("k0", "f") is None
    cache.put("big", "f", Reply(202, {"text": "x" * 5_000}))
    assert cache.get("big", "f") is None
