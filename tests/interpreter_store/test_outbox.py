"""Outbox rows, relayed to the embedded log in the same transaction."""

from __future__ import annotations

from collections.abc import Callable

from flowyard.interpreter.store import OutboxMessage, StepCommit, Store

CommitFor = Callable[..., StepCommit]


def message(topic: str, dedup: str, value: object) -> OutboxMessage:
    return OutboxMessage(
        topic=topic, key="a", value=value, headers={"flowd-dedup": dedup}, dedup_key=dedup
    )


async def test_outbox_to_embedded_log(store: Store, commit_for: CommitFor) -> None:
    await store.commit(
        commit_for(
            "a",
            0,
            outbox=(message("shipped", "d1", {"id": 1}), message("audit", "d2", [1, 2])),
        )
    )
    # A replayed step emitting the same dedup key adds nothing.
    await store.commit(commit_for("a", 1, outbox=(message("shipped", "d1", {"id": "again"}),)))
    pending = await store.pending_outbox()
    assert [(m.topic, m.value, m.dedup_key, m.sent_ms) for m in pending] == [
        ("shipped", {"id": 1}, "d1", None),
        ("audit", [1, 2], "d2", None),
    ]
    assert await store.log_end_offset() == -1

    offsets = await store.mark_outbox_sent([pending[0].id], sent_ms=2_000, append_to_log=True)
    assert len(offsets) == 1
    assert [m.dedup_key for m in await store.pending_outbox()] == ["d2"]
    records = await store.read_log("shipped")
    assert [(r.offset, r.key, r.value, r.headers, r.dedup_key, r.appended_ms) for r in records] == [
        (offsets[0], "a", {"id": 1}, {"flowd-dedup": "d1"}, "d1", 2_000)
    ]
    assert await store.read_log("shipped", after_offset=offsets[0]) == []

    again = await store.mark_outbox_sent([p.id for p in pending], sent_ms=3_000, append_to_log=True)
    assert len(again) == 1 and again[0] > offsets[0]
    assert await store.pending_outbox() == []
    assert [r.value for r in await store.read_log("audit")] == [[1, 2]]
    assert len(await store.read_log("shipped")) == 1
    assert await store.log_end_offset() == again[0]


async def test_sent_to_kafka_skips_the_log(store: Store, commit_for: CommitFor) -> None:
    await store.commit(commit_for("a", 0, outbox=tuple(message("t", f"d{i}", i) for i in range(5))))
    first_three = [m.id for m in await store.pending_outbox(limit=3)]
    assert await store.mark_outbox_sent(first_three, sent_ms=1, append_to_log=False) == []
    assert [m.value for m in await store.pending_outbox()] == [3, 4]
    assert await store.read_log("t") == []
