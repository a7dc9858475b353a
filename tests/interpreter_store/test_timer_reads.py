"""The reads the timer service fires batches with: due timers after a cursor,
many snapshots at once; and fired timers removed many at a time."""

from __future__ import annotations

from collections.abc import Callable

from flowyard.interpreter.store import InboxItem, StepCommit, Store, TimerRow

CommitFor = Callable[..., StepCommit]


def timer(key: str, due: int, timer_id: str = "t") -> TimerRow:
    return TimerRow(flow="orders", key=key, timer_id=timer_id, due_ms=due)


async def test_due_timers_after_a_cursor_come_in_due_then_key_order(
    store: Store, commit_for: CommitFor
) -> None:
    armed = [timer(f"k{i:02d}", 100 + i // 3) for i in range(12)] + [timer("k00", 100, "u")]
    for key in sorted({t.key for t in armed}):
        mine = tuple(t for t in armed if t.key == key)
        await store.commit(commit_for(key, 0, timers_armed=mine))
    everything = await store.due_timers(10**9)
    assert everything == sorted(armed, key=lambda t: (t.due_ms, t.flow, t.key, t.timer_id))

    pages: list[list[TimerRow]] = []
    after = None
    while page := await store.due_timers(102, limit=4, after=after):
        pages.append(page)
        after = page[-1]
    assert [len(page) for page in pages] == [4, 4, 2]
    assert [t for page in pages for t in page] == [t for t in everything if t.due_ms <= 102]
    assert await store.due_timers(10**9, after=everything[-1]) == []


async def test_load_instances_reads_many_and_leaves_out_missing_keys(
    store: Store, commit_for: CommitFor
) -> None:
    keys = [f"k{i:04d}" for i in range(2500)]  # more than one statement's worth
    for start in range(0, len(keys), 500):
        await store.commit_steps([commit_for(key, 0) for key in keys[start : start + 500]])
    wanted = [("orders", key) for key in keys[::-1]] + [("orders", "nobody"), ("other", "k0001")]
    found = await store.load_instances(wanted)
    assert sorted((row.flow, row.key) for row in found) == [("orders", key) for key in keys]
    for row in found[:5]:
        assert row == await store.load_instance(row.flow, row.key)
    assert await store.load_instances([]) == []


async def test_many_fired_timers_are_removed_in_one_ingest_unless_rearmed(
    store: Store, commit_for: CommitFor
) -> None:
    armed = [timer(f"k{i:04d}", 100 + i) for i in range(1200)]
    for start in range(0, len(armed), 400):
        chunk = armed[start : start + 400]
        await store.commit_steps([commit_for(t.key, 0, timers_armed=(t,)) for t in chunk])
    # k0000's timer was re-armed for later after the batch below was read.
    rearmed = timer("k0000", 5000)
    await store.commit(commit_for("k0000", 1, timers_armed=(rearmed,)))
    items = [InboxItem("orders", t.key, {"timer": t.timer_id}, 2000) for t in armed]
    result = await store.ingest(items, timers_fired=armed)
    assert len(result.accepted) == len(armed)
    assert await store.due_timers(10**9) == [rearmed]
