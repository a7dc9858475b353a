"""The shared examples, end to end, with their python effects (examples/) and a local
HTTP server standing in for the carrier, the mailer and the webhook subscribers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.runtime import CallbackClosedError, IncomingRecord, Runtime, VirtualClock

ROOT = str(Path(__file__).resolve().parent.parent.parent)
HOUR = 3_600_000
DAY = 24 * HOUR


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_order_fulfillment(
    open_store: Any, shared_example: Any, http_server: Any, eventually: Any
) -> None:
    clock = VirtualClock()
    rt = Runtime(
        await open_store(),
        [shared_example("order_fulfillment")],
        clock,
        env={"CARRIER_URL": http_server.url},
        effect_search_path=[ROOT],
        callback_base_url="https://flowd.example",
    )
    await rt.start()
    flow = "order_fulfillment"
    placed = {
        "type": "order.placed",
        "order_id": "o1",
        "total": 1500,
        "items": [{"sku": "tea", "qty": 2}],
    }
    await rt.ingest_events("orders", [IncomingRecord(value=placed)])
    await rt.ingest_events(
        "orders",
        [
            IncomingRecord(
                value={"type": "order.address_changed", "order_id": "o1", "address": "Elm 1"}
            )
        ],
    )
    await rt.wait_idle()
    order = await rt.get_instance(flow, "o1")
    assert order is not None and order.state == "awaiting_payment"
    assert order.data["reservation"]["lines"] == [{"sku": "tea", "qty": 2}]
    assert [d.name for d in order.deferred] == ["AddressChanged"]  # type: ignore[union-attr]

    await rt.ingest_events("payments", [IncomingRecord(value={"order_id": "o1", "amount": 1500})])
    await rt.wait_idle()
    order = await rt.get_instance(flow, "o1")
    assert order is not None and order.state == "in_review"

    assert (await rt.signal(flow, "o1", "review", {"approved": True}, "r1")).status == "accepted"
    await rt.wait_idle()
    order = await rt.get_instance(flow, "o1")
    assert order is not None and order.state == "paid"
    assert order.data["address"] == "Elm 1"  # the deferred change was re-offered

    await rt.advance(HOUR)  # books the shipment: the carrier will call back
    order = await rt.get_instance(flow, "o1")
    assert order is not None and order.status == "running"
    (path, headers, body) = http_server.requests[-1]
    assert path == "/shipments" and body["order_id"] == "o1" and body["address"] == "Elm 1"
    assert headers["Idempotency-Key"].startswith("fy-")
    assert body["callback_url"].startswith("https://flowd.example/callbacks/")
    token = body["callback_url"].rsplit("/", 1)[1]

    # Inputs for the busy key wait in its inbox.
    await rt.ingest_events(
        "orders", [IncomingRecord(value={"type": "order.cancelled", "order_id": "o1"})]
    )
    await rt.wait_idle()
    order = await rt.get_instance(flow, "o1")
    assert order is not None and order.status == "running"

    assert not await rt.resolve_callback("not-a-token", {})
    assert await rt.resolve_callback(token, {"tracking": "T-1"})
    await rt.wait_idle()
    order = await rt.get_instance(flow, "o1")
    assert order is not None
    assert (order.state, order.status) == ("shipped", "completed")
    assert order.data["shipment"] == {"tracking": "T-1"}
    updates = [r.value["status"] for r in await rt.store.read_log("order-updates")]
    assert updates == ["paid", "shipped"]
    await rt.drain_and_stop()


async def test_order_callback_timeout_goes_to_failed(
    open_store: Any, shared_example: Any, http_server: Any
) -> None:
    rt = Runtime(
        await open_store(),
        [shared_example("order_fulfillment")],
        VirtualClock(),
        env={"CARRIER_URL": http_server.url},
        effect_search_path=[ROOT],
    )
    await rt.start()
    placed = {"type": "order.placed", "order_id": "o2", "total": 10, "items": []}
    await rt.ingest_events("orders", [IncomingRecord(value=placed)])
    await rt.ingest_events("payments", [IncomingRecord(value={"order_id": "o2", "amount": 10})])
    await rt.advance(HOUR)
    order = await rt.get_instance("order_fulfillment", "o2")
    assert order is not None and order.status == "running"
    token = http_server.requests[-1][2]["callback_url"].rsplit("/", 1)[1]
    await rt.advance(2 * DAY)
    order = await rt.get_instance("order_fulfillment", "o2")
    assert order is not None and (order.state, order.status) == ("failed", "completed")

    # The timeout closed the call: a late callback is refused, not silently dropped.
    call = await rt.store.call_by_token(token)
    assert call is not None and (call.status, call.error) == ("failed", "callback timed out")
    with pytest.raises(CallbackClosedError, match="callback timed out"):
        await rt.resolve_callback(token, {"tracking": "late"})
    await rt.drain_and_stop()


async def test_subscription_renews_and_dunning(
    open_store: Any,
    shared_example: Any,
    http_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock()
    rt = Runtime(
        await open_store(),
        [shared_example("subscription")],
        clock,
        env={"MAILER_URL": http_server.url + "/mail"},
        effect_search_path=[ROOT],
    )
    await rt.start()
    renews = clock.now_ms() + DAY
    started = {
        "type": "subscription.started",
        "account_id": "acc",
        "plan": "pro",
        "renews_at": rfc3339(renews),
    }
    await rt.ingest_events("billing", [IncomingRecord(value=started)])
    await rt.wait_idle()
    sub = await rt.get_instance("subscription", "acc")
    assert sub is not None and sub.state == "active"
    assert sub.timers == {"active/at/0": renews}

    await rt.advance(DAY)  # renewal: charged, re-armed 30 days later
    sub = await rt.get_instance("subscription", "acc")
    assert sub is not None and sub.state == "active"
    assert sub.data["renews_at"] == rfc3339(renews + 720 * HOUR)
    assert sub.timers == {"active/at/0": renews + 720 * HOUR}

    monkeypatch.setenv("FLOWYARD_BILLING_DECLINE", "acc")
    await rt.advance(720 * HOUR)  # the next charge is declined: past_due, mail sent
    sub = await rt.get_instance("subscription", "acc")
    assert sub is not None and (sub.state, sub.data["failures"]) == ("past_due", 1)
    mails = http_server.on("/mail")
    assert [body for _, _, body in mails] == [{"to": "acc", "template": "payment_failed"}]

    # PaymentFailed is delayed by 5 minutes; PaymentSucceeded overtakes it. Back in
    # `active`, the overdue renewal time fires at once and the charge now succeeds.
    monkeypatch.delenv("FLOWYARD_BILLING_DECLINE")
    failed = {"type": "payment.failed", "account_id": "acc"}
    succeeded = {"type": "payment.succeeded", "account_id": "acc"}
    await rt.ingest_events("billing", [IncomingRecord(value=failed)])
    await rt.ingest_events("billing", [IncomingRecord(value=succeeded)])
    await rt.wait_idle()
    sub = await rt.get_instance("subscription", "acc")
    assert sub is not None and sub.state == "active"
    assert sub.data["renews_at"] == rfc3339(renews + 2 * 720 * HOUR)
    assert sub.data["failures"] == 0
    await rt.advance(5 * 60_000)
    sub = await rt.get_instance("subscription", "acc")
    assert sub is not None and sub.state == "active"  # active ignores PaymentFailed
    journal = await rt.store.journal("subscription", "acc")
    names = [e.input.get("name") for e in journal if e.input["kind"] == "event"]
    assert names[-2:] == ["PaymentSucceeded", "PaymentFailed"]
    await rt.drain_and_stop()


async def test_webhook_fanout_retries_each_target_on_its_own(
    open_store: Any,
    shared_example: Any,
    http_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subscribers = {
        "user.created": [{"url": f"{http_server.url}/a"}, {"url": f"{http_server.url}/flaky"}],
        "*": [{"url": f"{http_server.url}/b"}],
        "user.deleted": [{"url": f"{http_server.url}/gone"}],
    }
    monkeypatch.setenv("FLOWYARD_WEBHOOK_SUBSCRIBERS_JSON", json.dumps(subscribers))
    http_server.script["/flaky"] = [503, 429, 200]
    http_server.script["/gone"] = [404]
    rt = Runtime(
        await open_store(),
        [shared_example("webhook_fanout")],
        VirtualClock(),
        effect_search_path=[ROOT],
    )
    await rt.start()
    event = {"id": "e1", "kind": "user.created", "payload": {"user": "u1"}}
    await rt.ingest_events("domain-events", [IncomingRecord(value=event)])
    await rt.wait_idle()
    assert len(http_server.on("/a")) == 1 and len(http_server.on("/b")) == 1
    assert len(http_server.on("/flaky")) == 1
    await rt.advance(timedelta(minutes=10) // timedelta(milliseconds=1))
    flaky = http_server.on("/flaky")
    assert len(flaky) == 3
    assert len({headers["Idempotency-Key"] for _, headers, _ in flaky}) == 1
    assert all(body == {"user": "u1"} for _, _, body in flaky)
    delivery = await rt.get_instance("webhook_delivery", "e1")
    assert delivery is not None and delivery.state == "delivered"
    assert [d["status"] for d in delivery.data["deliveries"]] == [200, 200, 200]
    assert [s["url"].rsplit("/", 1)[1] for s in delivery.data["subscribers"]] == ["a", "flaky", "b"]

    gone = {"id": "e2", "kind": "user.deleted", "payload": {}}
    await rt.ingest_events("domain-events", [IncomingRecord(value=gone)])
    await rt.wait_idle()
    assert len(http_server.on("/gone")) == 1  # 404 is not retried
    delivery = await rt.get_instance("webhook_delivery", "e2")
    assert delivery is not None and delivery.state == "undeliverable"
    await rt.drain_and_stop()
