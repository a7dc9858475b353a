"""The three shared example flows, compiled by flowc and driven end to end through `step`."""

from __future__ import annotations

from typing import Any

import pytest
from core_helpers import EXAMPLE_DIR, Driver, of_type, runs
from flowyard.compiler.api import compile_file
from flowyard.interpreter.core_effects import render_effect_request
from flowyard.interpreter.model import (
    ArmTimer,
    AwaitCallback,
    CancelTimer,
    Completed,
    Emit,
    EventInput,
    RunEffect,
)
from flowyard.interpreter.program import Program
from flowyard.interpreter.replay import replay

HOUR = 3_600_000
DAY = 24 * HOUR


def program(name: str) -> Program:
    ir, diagnostics = compile_file(EXAMPLE_DIR / f"{name}.flow.yaml")
    assert ir is not None, diagnostics
    return Program.from_ir(ir)


@pytest.fixture(scope="module")
def order() -> Program:
    return program("order_fulfillment")


@pytest.fixture(scope="module")
def subscription() -> Program:
    return program("subscription")


@pytest.fixture(scope="module")
def webhooks() -> Program:
    return program("webhook_fanout")


def test_order_fulfillment_from_placement_to_shipment(order: Program) -> None:
    d = Driver(order, key="o-1", env={"CARRIER_URL": "https://carrier.example"})
    placed = {"type": "order.placed", "order_id": "o-1", "total": 1500, "items": [{"sku": "a"}]}
    assert order.event_for("orders", placed, {}) == "OrderPlaced"
    assert order.validate_event("OrderPlaced", placed) == []
    assert order.starts_instance("OrderPlaced") and not order.starts_instance("PaymentConfirmed")

    r = d.event("OrderPlaced", placed)
    (reserve,) = runs(r.commands)
    assert reserve.effect == "reserve_stock"
    assert reserve.call_id == "order_fulfillment/o-1/0/new/on/OrderPlaced/0/do/1"
    assert reserve.args == {"order_id": "o-1", "items": [{"sku": "a"}]}
    assert r.instance.status == "running" and r.instance.data["total"] == 1500

    r = d.ok(reserve.call_id, {"reservation_id": "r-9"})
    assert r.instance.state == "awaiting_payment"
    assert r.instance.data["reservation"] == {"reservation_id": "r-9"}
    assert r.commands == (ArmTimer("awaiting_payment/after/0", d.now + 30 * 60_000),)

    r = d.event(
        "AddressChanged",
        {"type": "order.address_changed", "order_id": "o-1", "address": "1 Main St"},
    )
    assert r.trace == ("deferred event AddressChanged",)

    r = d.event("PaymentConfirmed", {"order_id": "o-1", "amount": 1500})
    assert r.instance.state == "in_review"
    assert r.commands == (
        CancelTimer("awaiting_payment/after/0"),
        ArmTimer("in_review/after/0", d.now + 2 * DAY),
    )
    assert len(r.instance.deferred) == 1

    r = d.signal("review", {"approved": True, "reviewer": "ann"})
    assert r.instance.state == "paid"
    (published,) = of_type(r.commands, Emit)
    assert (published.topic, published.key, published.value) == (
        "order-updates",
        "o-1",
        {"order_id": "o-1", "status": "paid"},
    )
    assert r.instance.data["address"] == "1 Main St"
    assert r.instance.deferred == ()
    assert "paid/after/0" in r.instance.timers

    r = d.fire("paid/after/0")
    (book,) = runs(r.commands)
    assert book.effect == "book_shipment" and book.args == {"address": "1 Main St"}
    request = render_effect_request(
        order,
        "book_shipment",
        book.args,
        "o-1",
        d.env,
        callback={"url": "https://flowd/callbacks/tok", "token": "tok"},
    )
    assert request["url"] == "https://carrier.example/shipments"
    assert request["body"] == {
        "order_id": "o-1",
        "address": "1 Main St",
        "callback_url": "https://flowd/callbacks/tok",
    }

    r = d.ok(book.call_id, {"status": 202})
    assert r.instance.status == "running"
    assert r.commands == (
        ArmTimer("callback:" + book.call_id, d.now + 2 * DAY),
        AwaitCallback(book.call_id, 2 * DAY),
    )
    # An order event arriving meanwhile waits in the inbox.
    assert not r.instance.accepts(EventInput("OrderCancelled", {}, {}, d.now))

    r = d.ok(book.call_id, {"tracking": "T1"}, phase="callback")
    assert r.instance.state == "shipped" and r.instance.status == "completed"
    assert r.instance.data["shipment"] == {"tracking": "T1"}
    assert [e.value["status"] for e in of_type(r.commands, Emit)] == ["shipped"]
    assert r.commands[-1] == Completed()
    assert r.instance.timers == {}

    rebuilt = replay(order, d.journal, key="o-1", env=d.env)
    assert rebuilt == d.instance


def test_order_failing_reservation_goes_to_failed(order: Program) -> None:
    d = Driver(order, key="o-2")
    placed = {"type": "order.placed", "order_id": "o-2", "total": 10, "items": []}
    cid = runs(d.event("OrderPlaced", placed).commands)[0].call_id
    r = d.fail(cid, "out of stock")
    assert r.instance.state == "failed" and r.instance.status == "completed"


def test_order_small_payment_and_timeout_paths(order: Program) -> None:
    d = Driver(order, key="o-3")
    placed = {"type": "order.placed", "order_id": "o-3", "total": 50, "items": []}
    d.ok(runs(d.event("OrderPlaced", placed).commands)[0].call_id, {})
    assert d.event("PaymentConfirmed", {"order_id": "o-3", "amount": 50}).instance.state == "paid"

    d = Driver(order, key="o-4")
    placed = {"type": "order.placed", "order_id": "o-4", "total": 50, "items": []}
    d.ok(runs(d.event("OrderPlaced", placed).commands)[0].call_id, {})
    r = d.fire("awaiting_payment/after/0")
    assert r.instance.state == "cancelled" and r.instance.status == "completed"
    assert of_type(r.commands, Emit)[0].value == {"order_id": "o-4", "status": "cancelled"}


def test_subscription_renews_at_its_time_and_dunning_suspends(subscription: Program) -> None:
    d = Driver(subscription, key="acc-1", env={"MAILER_URL": "https://mail"})
    assert subscription.events["PaymentFailed"].delay_ms == 5 * 60_000
    r = d.event(
        "SubscriptionStarted",
        {
            "type": "subscription.started",
            "account_id": "acc-1",
            "plan": "pro",
            "renews_at": "2026-01-31T10:00:00Z",
        },
    )
    assert r.instance.state == "active"
    first_due = 1_769_853_600_000
    assert r.instance.timers == {"active/at/0": first_due}

    r = d.fire("active/at/0")
    (charge,) = runs(r.commands)
    assert charge.args == {"account_id": "acc-1", "plan": "pro"}
    r = d.ok(charge.call_id, {"charged": True})
    assert r.instance.state == "active"
    assert r.instance.data["renews_at"] == "2026-03-02T10:00:00Z"
    assert r.instance.timers == {"active/at/0": first_due + 720 * HOUR}

    r = d.fire("active/at/0")
    r = d.fail(runs(r.commands)[0].call_id, "card declined")
    assert r.instance.state == "past_due" and r.instance.status == "running"
    assert r.instance.data["failures"] == 1
    (email,) = runs(r.commands)
    assert render_effect_request(subscription, "send_email", email.args, "acc-1", d.env) == {
        "kind": "http",
        "method": "POST",
        "url": "https://mail",
        "headers": {},
        "body": {"to": "acc-1", "template": "payment_failed"},
    }
    r = d.ok(email.call_id)
    assert r.instance.status == "active"
    assert set(r.instance.timers) == {"past_due/after/0"}

    for failures in (2, 3):
        r = d.event("PaymentFailed", {"type": "payment.failed", "account_id": "acc-1"})
        assert r.instance.data["failures"] == failures
        r = d.ok(runs(r.commands)[0].call_id)
    assert r.instance.state == "suspended"
    assert r.trace[-2:] == ("transition past_due/always/0", "enter suspended")
    assert r.instance.timers == {}

    r = d.event("PaymentSucceeded", {"type": "payment.succeeded", "account_id": "acc-1"})
    assert r.instance.state == "active"
    assert r.instance.timers == {"active/at/0": first_due + 720 * HOUR}
    r = d.event("SubscriptionCancelled", {"type": "subscription.cancelled", "account_id": "acc-1"})
    assert r.instance.status == "completed" and r.instance.state == "cancelled"
    assert replay(subscription, d.journal, key="acc-1", env=d.env) == d.instance


def deliver_until_done(d: Driver, fail_item: int | None) -> list[int]:
    """Answer every outstanding delivery (item index order); returns max concurrency seen."""
    seen = []
    while d.inst.status == "running":
        pending = d.inst.pending
        assert pending is not None
        outstanding = sorted(pending.call_ids(), key=lambda c: int(c.rsplit("/", 1)[1]))
        seen.append(len(outstanding))
        for cid in outstanding:
            if d.inst.status != "running":
                break
            item = int(cid.rsplit("/", 1)[1])
            if item == fail_item:
                d.fail(cid, "HTTP 410")
            else:
                d.ok(cid, {"status": 200, "item": item})
    return seen


def start_fanout(d: Driver, n: int) -> RunEffect:
    r = d.event("DomainEvent", {"id": "e-1", "kind": "user.created", "payload": {"u": 1}})
    (lookup,) = runs(r.commands)
    subs: list[Any] = [{"url": f"https://s{i}.example/hook"} for i in range(n)]
    r = d.ok(lookup.call_id, subs)
    issued = runs(r.commands)
    assert len(issued) == 50
    assert issued[0].args == {"url": "https://s0.example/hook", "payload": {"u": 1}}
    return issued[0]


def test_webhook_fanout_delivers_to_120_subscribers_50_at_a_time(webhooks: Program) -> None:
    d = Driver(webhooks, key="e-1")
    start_fanout(d, 120)
    seen = deliver_until_done(d, None)
    assert max(seen) == 50
    assert d.inst.state == "delivered" and d.inst.status == "completed"
    deliveries = d.inst.data["deliveries"]
    assert [x["item"] for x in deliveries] == list(range(120))
    assert replay(webhooks, d.journal, key="e-1") == d.instance


def test_webhook_fanout_one_failure_goes_to_catch(webhooks: Program) -> None:
    d = Driver(webhooks, key="e-1")
    start_fanout(d, 120)
    deliver_until_done(d, fail_item=77)
    assert d.inst.state == "undeliverable" and d.inst.status == "completed"
    assert d.inst.timers == {} and d.inst.pending is None
