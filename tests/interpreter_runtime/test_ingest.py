"""Ingest: matching, keys, schemas, dead letters, deduplication, signals, delays."""

from __future__ import annotations

from typing import Any

import pytest
from flowyard.interpreter.runtime import (
    IncomingRecord,
    Runtime,
    RuntimeNotRunningError,
    UnknownInstanceError,
    VirtualClock,
)

ORDERS = """
flow: orders
version: 1
key: order_id
events:
  Placed:
    topic: shop
    match: {type: placed}
    key: event.order_id
    schema:
      type: object
      required: [type, order_id, total]
      properties:
        order_id: {type: string}
        total: {type: number, minimum: 0}
  Noted:
    topic: shop
    match: {type: note}
    key: event.order_id
    delay: 5m
signals:
  approve:
    schema:
      type: object
      required: [by]
      properties:
        by: {type: string}
data:
  total: {type: number, default: 0}
  notes: {type: integer, default: 0}
  approved_by: {type: string, default: ""}
initial: new
states:
  new:
    on:
      Placed:
        do:
          - set: {total: "${ event.total }"}
        goto: open
  open:
    on:
      Noted:
        do:
          - set: {notes: "${ data.notes + 1 }"}
      approve:
        do:
          - set: {approved_by: "${ event.by }"}
        goto: approved
  approved: {final: true}
"""

AUDIT = """
flow: audit
version: 1
key: order_id
events:
  Seen:
    topic: shop
    key: event.order_id
data:
  seen: {type: integer, default: 0}
initial: watching
states:
  watching:
    on:
      Seen:
        do:
          - set: {seen: "${ data.seen + 1 }"}
"""


@pytest.fixture
async def rt(open_store: Any, compile_yaml: Any) -> Any:
    runtime = Runtime(await open_store(), [compile_yaml(ORDERS)], VirtualClock())
    await runtime.start()
    yield runtime
    await runtime.drain_and_stop()


def placed(order_id: str, total: Any = 10, **more: Any) -> dict[str, Any]:
    return {"type": "placed", "order_id": order_id, "total": total, **more}


async def test_dead_letters_for_schema_key_topic_and_json(rt: Runtime) -> None:
    outcomes = await rt.ingest_events(
        "shop",
        [
            IncomingRecord(value=placed("o1", total=-5)),  # schema: minimum
            IncomingRecord(value={"type": "placed", "total": 1}),  # no order_id: no key
            IncomingRecord(value=b"{not json"),
            IncomingRecord(value={"type": "unrelated"}),  # no event matches: ignored
            IncomingRecord(value=placed("o2")),
            IncomingRecord(value=b'{"type": "placed", "order_id": "o3", "total": NaN}'),
        ],
    )
    assert [o.status for o in outcomes] == [
        "dead_lettered",
        "dead_lettered",
        "dead_lettered",
        "ignored",
        "accepted",
        "dead_lettered",
    ]
    assert "not JSON: NaN is not JSON" in outcomes[5].reasons[0]
    assert "schema violation" in outcomes[0].reasons[0] and "minimum" in outcomes[0].reasons[0]
    assert "no key" in outcomes[1].reasons[0]
    assert "not JSON" in outcomes[2].reasons[0]
    unknown = await rt.ingest_events("nobody-reads-this", [IncomingRecord(value={"a": 1})])
    assert unknown[0].status == "dead_lettered"
    assert "no flow reads topic" in unknown[0].reasons[0]

    letters = await rt.store.dead_letters()
    assert [letter.reason for letter in letters] == [
        *(o.reasons[0] for o in outcomes[:3]),
        outcomes[5].reasons[0],
        unknown[0].reasons[0],
    ]
    assert letters[2].payload == "{not json"
    await rt.wait_idle()
    assert await rt.get_instance("orders", "o1") is None
    o2 = await rt.get_instance("orders", "o2")
    assert o2 is not None and o2.state == "open"


async def test_redelivery_is_deduplicated_by_source_position(rt: Runtime) -> None:
    def rec(position: int, order_id: str) -> IncomingRecord:
        return IncomingRecord(value=placed(order_id), source="kafka:shop:0", position=position)

    first = await rt.ingest_events("shop", [rec(1, "a"), rec(2, "b")])
    again = await rt.ingest_events("shop", [rec(1, "a"), rec(2, "b"), rec(3, "c")])
    assert [o.status for o in first] == ["accepted", "accepted"]
    assert [o.status for o in again] == ["duplicate", "duplicate", "accepted"]
    bad = IncomingRecord(value=b"oops", source="kafka:shop:0", position=4)
    assert (await rt.ingest_events("shop", [bad]))[0].status == "dead_lettered"
    assert (await rt.ingest_events("shop", [bad]))[0].status == "duplicate"
    assert len(await rt.store.dead_letters()) == 1
    await rt.wait_idle()
    for key in "abc":
        instance = await rt.get_instance("orders", key)
        assert instance is not None and instance.seq == 1


async def test_one_record_feeds_every_flow_reading_the_topic(
    open_store: Any, compile_yaml: Any
) -> None:
    rt = Runtime(await open_store(), [compile_yaml(ORDERS), compile_yaml(AUDIT)], VirtualClock())
    await rt.start()
    record = IncomingRecord(value=placed("o1"), source="file:events.jsonl", position=1)
    outcome = (await rt.ingest_events("shop", [record]))[0]
    assert outcome.status == "accepted"
    assert sorted((d.flow, d.event) for d in outcome.deliveries) == [
        ("audit", "Seen"),
        ("orders", "Placed"),
    ]
    assert (await rt.ingest_events("shop", [record]))[0].status == "duplicate"
    await rt.wait_idle()
    audit = await rt.get_instance("audit", "o1")
    assert audit is not None and audit.data["seen"] == 1
    await rt.drain_and_stop()


async def test_delayed_event_waits_until_due(rt: Runtime) -> None:
    await rt.ingest_events("shop", [IncomingRecord(value=placed("o1"))])
    await rt.ingest_events("shop", [IncomingRecord(value={"type": "note", "order_id": "o1"})])
    await rt.wait_idle()
    instance = await rt.get_instance("orders", "o1")
    assert instance is not None and instance.data["notes"] == 0
    await rt.advance(5 * 60_000 - 1)
    instance = await rt.get_instance("orders", "o1")
    assert instance is not None and instance.data["notes"] == 0
    await rt.advance(1)
    instance = await rt.get_instance("orders", "o1")
    assert instance is not None and instance.data["notes"] == 1


async def test_signals_are_checked_and_deduplicated(rt: Runtime) -> None:
    await rt.ingest_events("shop", [IncomingRecord(value=placed("o1"))])
    await rt.wait_idle()
    bad = await rt.signal("orders", "o1", "approve", {"by": 7}, signal_id="s0")
    assert bad.status == "dead_lettered" and "schema violation" in bad.reasons[0]
    unknown = await rt.signal("orders", "o1", "reject", {}, signal_id="s1")
    assert unknown.status == "dead_lettered" and "no signal" in unknown.reasons[0]
    nowhere = await rt.signal("nope", "o1", "approve", {"by": "x"})
    assert nowhere.status == "dead_lettered" and "unknown flow" in nowhere.reasons[0]
    assert len(await rt.store.dead_letters()) == 3

    ok = await rt.signal("orders", "o1", "approve", {"by": "ann"}, signal_id="s2")
    again = await rt.signal("orders", "o1", "approve", {"by": "bob"}, signal_id="s2")
    assert (ok.status, again.status) == ("accepted", "duplicate")
    await rt.wait_idle()
    instance = await rt.get_instance("orders", "o1")
    assert instance is not None
    assert (instance.state, instance.data["approved_by"]) == ("approved", "ann")


async def test_cancel_and_unknown_instances(rt: Runtime) -> None:
    with pytest.raises(UnknownInstanceError):
        await rt.cancel("orders", "ghost")
    await rt.ingest_events("shop", [IncomingRecord(value=placed("o1"))])
    await rt.wait_idle()
    await rt.cancel("orders", "o1", reason="test")
    await rt.wait_idle()
    instance = await rt.get_instance("orders", "o1")
    assert instance is not None and instance.status == "cancelled"


async def test_no_input_after_stop(open_store: Any, compile_yaml: Any) -> None:
    rt = Runtime(await open_store(), [compile_yaml(ORDERS)], VirtualClock())
    with pytest.raises(RuntimeNotRunningError):
        await rt.ingest_events("shop", [IncomingRecord(value=placed("o1"))])
    await rt.start()
    await rt.drain_and_stop()
    with pytest.raises(RuntimeNotRunningError):
        await rt.signal("orders", "o1", "approve", {"by": "x"})


APPROVALS = """
flow: approvals
version: 1
key: id
events:
  Asked:
    topic: asks
    key: event.id
signals:
  decide:
    topic: decisions
    key: event.request_id
    schema:
      type: object
      required: [request_id, ok]
      properties:
        ok: {type: boolean}
data:
  ok: {type: boolean, default: false}
initial: new
states:
  new:
    on:
      Asked: {goto: asked}
  asked:
    on:
      decide:
        do:
          - set: {ok: "${ event.ok }"}
        goto: decided
  decided: {final: true}
"""


async def test_signals_from_a_topic(open_store: Any, compile_yaml: Any) -> None:
    rt = Runtime(await open_store(), [compile_yaml(APPROVALS)], VirtualClock())
    await rt.start()
    assert "decisions" in rt.topics
    await rt.ingest_events("asks", [IncomingRecord(value={"id": "r1"})])
    outcomes = await rt.ingest_events(
        "decisions",
        [
            IncomingRecord(value={"request_id": "r1", "ok": "yes"}),
            IncomingRecord(value={"request_id": "r1", "ok": True}),
        ],
    )
    assert [o.status for o in outcomes] == ["dead_lettered", "accepted"]
    assert "approvals.decide: schema violation" in outcomes[0].reasons[0]
    await rt.wait_idle()
    instance = await rt.get_instance("approvals", "r1")
    assert instance is not None and (instance.state, instance.data["ok"]) == ("decided", True)
    journal = await rt.store.journal("approvals", "r1")
    assert journal[-1].input["kind"] == "signal"
    await rt.drain_and_stop()
