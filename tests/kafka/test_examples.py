"""The three examples, driven by records produced to Kafka, reach the states their
comments describe; emits appear on their topics with the dedup header.

Each example's topics are renamed to fresh ones; its python and HTTP effects
are replaced by local functions (the examples' own effects are tested in
tests/interpreter_runtime/test_examples.py): this is about the Kafka path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler.api import compile_text
from flowyard.interpreter.kafka.devbroker import Broker
from flowyard.interpreter.kafka.records import DEDUP_HEADER
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.runtime.effects import EffectContext
from support.kafka import create_topics, produce, read_topic, unique_name

from .test_ingress import Topics, flowd, settings, until

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def renamed(example: str, suffix: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The example's IR with every topic renamed (`<topic>-<suffix>`), and the names."""
    text = (EXAMPLES / f"{example}.flow.yaml").read_text(encoding="utf-8")
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        names[match[2]] = f"{match[2]}-{suffix}"
        return f"{match[1]}{names[match[2]]}"

    text = re.sub(r"(topic: )([a-z][a-z-]*)", rename, text)
    ir, diagnostics = compile_text(text, file=f"{example}.flow.yaml", surface="yaml")
    assert ir is not None, diagnostics
    return ir, names


async def reserve_stock(args: Any, ctx: EffectContext) -> Any:
    return {"lines": args["items"]}


async def subscribers_for(args: Any, ctx: EffectContext) -> Any:
    return [{"url": "http://a.test/hook"}, {"url": "http://b.test/hook"}]


async def deliver(args: Any, ctx: EffectContext) -> Any:
    return {"status": 200, "url": args["url"]}


async def state_of(runtime: Runtime, flow: str, key: str) -> str | None:
    instance = await runtime.get_instance(flow, key)
    return None if instance is None else instance.state


def record(key: str, value: dict[str, Any]) -> tuple[str, bytes, list[Any]]:
    return (key, json.dumps(value).encode(), [])


async def test_examples_run_from_kafka(kafka_broker: Broker, tmp_path: Path) -> None:
    suffix = unique_name("ex")
    orders, order_topics = renamed("order_fulfillment", suffix)
    billing, billing_topics = renamed("subscription", suffix)
    hooks, hook_topics = renamed("webhook_fanout", suffix)
    topics = {**order_topics, **billing_topics, **hook_topics}
    await create_topics(kafka_broker.bootstrap, sorted(topics.values()), 3)
    t = Topics()
    o, p = topics["orders"], topics["payments"]
    await produce(
        kafka_broker.bootstrap,
        o,
        [
            record("o-1", {"type": "order.placed", "order_id": "o-1", "total": 40, "items": []}),
            record("o-1", {"type": "order.address_changed", "order_id": "o-1", "address": "Leith"}),
            record("o-2", {"type": "order.placed", "order_id": "o-2", "total": 2500, "items": []}),
            record("o-3", {"type": "order.placed", "order_id": "o-3", "total": 9, "items": []}),
            record("o-3", {"type": "order.cancelled", "order_id": "o-3"}),
            record("o-5", {"type": "order.placed", "order_id": "o-5", "total": -3, "items": []}),
        ],
    )
    b = topics["billing"]
    started = {"type": "subscription.started", "plan": "pro", "renews_at": "2099-01-01T00:00:00Z"}
    await produce(
        kafka_broker.bootstrap,
        b,
        [
            record("acc-1", {**started, "account_id": "acc-1"}),
            record("acc-2", {**started, "account_id": "acc-2"}),
            record("acc-2", {"type": "subscription.cancelled", "account_id": "acc-2"}),
        ],
    )
    d = topics["domain-events"]
    await produce(
        kafka_broker.bootstrap,
        d,
        [record("e-1", {"id": "e-1", "kind": "invoice.paid", "payload": {"n": 1}})],
    )
    async with flowd(
        tmp_path / "flowd.db",
        [orders, billing, hooks],
        settings(kafka_broker, t),
        effect_overrides={
            "reserve_stock": reserve_stock,
            "subscribers_for": subscribers_for,
            "deliver": deliver,
        },
    ) as f:

        async def placed() -> bool:
            # Kafka orders records within a partition only: payments go out
            # once their orders are placed, as they would in the real world.
            for key in ("o-1", "o-2"):
                if await state_of(f.runtime, "order_fulfillment", key) != "awaiting_payment":
                    return False
            return True

        await until(placed, "o-1 and o-2 awaiting payment")
        await produce(
            kafka_broker.bootstrap,
            p,
            [
                record("o-1", {"order_id": "o-1", "amount": 40}),
                record("o-2", {"order_id": "o-2", "amount": 2500}),
            ],
        )
        expected = {
            ("order_fulfillment", "o-1"): "paid",
            ("order_fulfillment", "o-2"): "in_review",
            ("order_fulfillment", "o-3"): "cancelled",
            ("subscription", "acc-1"): "active",
            ("subscription", "acc-2"): "cancelled",
            ("webhook_delivery", "e-1"): "delivered",
        }

        async def reached() -> bool:
            for (flow, key), state in expected.items():
                if await state_of(f.runtime, flow, key) != state:
                    return False
            return True

        await until(reached, f"the states {expected}")
        o1 = await f.runtime.get_instance("order_fulfillment", "o-1")
        assert o1 is not None and o1.data["address"] == "Leith"  # deferred, then applied
        e1 = await f.runtime.get_instance("webhook_delivery", "e-1")
        assert e1 is not None and len(e1.data["deliveries"]) == 2  # type: ignore[arg-type]
        assert await f.runtime.get_instance("order_fulfillment", "o-5") is None
        letters = await f.runtime.store.dead_letters()
        assert len(letters) == 1 and "schema violation" in letters[0].reason
        # Read while flowd runs: a stopped flowd leaves unsent emits for its next start.
        updates = await read_topic(kafka_broker.bootstrap, topics["order-updates"], at_least=2)
        assert sorted(json.loads(r.value or b"{}")["status"] for r in updates) == [
            "cancelled",
            "paid",
        ]
        assert all(DEDUP_HEADER in dict(r.headers) for r in updates)
