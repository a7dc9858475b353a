"""Due timers fire in batches, stepped as arrivals are: once each, in order with
other input for their keys, and a bounded batch at a time after downtime."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from flowyard.interpreter.runtime import IncomingRecord, Runtime, VirtualClock
from flowyard.interpreter.runtime import timers as timers_module
from flowyard.interpreter.store import IngestResult, SQLiteStore

TIMED = """
flow: timed
version: 1
key: id
events:
  Go:
    topic: go
    key: event.id
  Poke:
    topic: pokes
    key: event.id
    schema:
      type: object
      required: [id, n]
      properties:
        id: {type: string}
        n: {type: integer}
data:
  seen: {type: array, items: {type: string}, default: []}
initial: idle
states:
  idle:
    on:
      Go: {goto: waiting}
  waiting:
    after:
      1h:
        do:
          - set: {seen: "${ data.seen + ['timer'] }"}
        goto: expired
    on:
      Poke:
        do:
          - set: {seen: "${ data.seen + [string(event.n)] }"}
  expired:
    on:
      Poke:
        do:
          - set: {seen: "${ data.seen + [string(event.n)] }"}
"""

HOUR_MS = 3_600_000


class Recorder:
    """Wraps a store's timer reads and ingests to record their sizes."""

    def __init__(self, store: SQLiteStore) -> None:
        self.due_reads: list[int] = []
        self.loads: list[int] = []
        self.fired: list[tuple[int, IngestResult]] = []
        due_timers, load_instances, ingest = store.due_timers, store.load_instances, store.ingest

        async def recording_due_timers(now_ms: int, limit: int | None = None, **kw: Any) -> Any:
            rows = await due_timers(now_ms, limit, **kw)
            self.due_reads.append(len(rows))
            return rows

        async def recording_load_instances(keys: Sequence[tuple[str, str]]) -> Any:
            self.loads.append(len(keys))
            return await load_instances(keys)

        async def recording_ingest(*args: Any, **kwargs: Any) -> IngestResult:
            result = await ingest(*args, **kwargs)
            if kwargs.get("timers_fired"):
                self.fired.append((len(kwargs["timers_fired"]), result))
            return result

        store.due_timers = recording_due_timers  # type: ignore[method-assign]
        store.load_instances = recording_load_instances  # type: ignore[method-assign]
        store.ingest = recording_ingest  # type: ignore[method-assign]


async def _park(rt: Runtime, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), 100):
        chunk = keys[start : start + 100]
        await rt.ingest_events("go", [IncomingRecord(value={"id": key}) for key in chunk])
    await rt.wait_idle()


async def test_overdue_timers_fire_once_each_in_bounded_batches_on_restart(
    open_store: Any, compile_yaml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timers_module, "FIRE_BATCH", 40)
    ir = compile_yaml(TIMED)
    keys = [f"k{i:03d}" for i in range(250)]
    clock = VirtualClock()
    rt = Runtime(await open_store(), [ir], clock)
    await rt.start()
    await _park(rt, keys)
    await rt.drain_and_stop()

    # Down for three hours: every timer is overdue at start-up, and no
    # snapshot is in memory.
    store = await open_store()
    recorder = Recorder(store)
    rt2 = Runtime(store, [ir], VirtualClock(clock.now_ms() + 3 * HOUR_MS))
    await rt2.start()
    await rt2.wait_idle()

    assert recorder.due_reads and max(recorder.due_reads) <= 40
    assert sum(recorder.due_reads) == len(keys)
    assert recorder.loads and max(recorder.loads) <= 40
    assert [size for size, _ in recorder.fired] == [40] * 6 + [10]
    # Every timer was stepped in its firing transaction, none went through an inbox.
    assert all(all(result.applied) for _, result in recorder.fired)
    assert all(result.accepted == () for _, result in recorder.fired)
    for key in keys:
        instance = await rt2.get_instance("timed", key)
        assert instance is not None
        assert (instance.state, instance.data["seen"]) == ("expired", ["timer"])
        journal = await store.journal("timed", key)
        assert [entry.input["kind"] for entry in journal] == ["event", "timer"]
        assert await store.timers_for("timed", key) == []
    await rt2.drain_and_stop()


async def test_events_arriving_while_timers_fire_apply_after_them(
    open_store: Any, compile_yaml: Any
) -> None:
    ir = compile_yaml(TIMED)
    keys = [f"k{i:02d}" for i in range(30)]
    store = await open_store()
    rt = Runtime(store, [ir], VirtualClock())
    await rt.start()
    await _park(rt, keys)
    await rt.ingest_events("pokes", [IncomingRecord(value={"id": k, "n": 0}) for k in keys])

    sent: list[asyncio.Task[Any]] = []
    ingest = store.ingest

    async def pokes_while_firing(*args: Any, **kwargs: Any) -> IngestResult:
        if kwargs.get("timers_fired") and not sent:
            # The timers' steps are computed; these pokes arrive before they are durable.
            for n in (1, 2):
                records = [IncomingRecord(value={"id": k, "n": n}) for k in keys]
                sent.append(asyncio.create_task(rt.ingest_events("pokes", records)))
            for _ in range(5):
                await asyncio.sleep(0)
        return await ingest(*args, **kwargs)

    store.ingest = pokes_while_firing  # type: ignore[method-assign]
    await rt.advance(HOUR_MS)
    assert sent, "no timer was fired"
    for outcomes in await asyncio.gather(*sent):
        assert all(outcome.status == "accepted" for outcome in outcomes)
    await rt.ingest_events("pokes", [IncomingRecord(value={"id": k, "n": 3}) for k in keys])
    await rt.wait_idle()

    for key in keys:
        instance = await rt.get_instance("timed", key)
        assert instance is not None and instance.state == "expired"
        assert instance.data["seen"] == ["0", "timer", "1", "2", "3"]
        journal = await store.journal("timed", key)
        kinds = [entry.input["kind"] for entry in journal]
        assert kinds == ["event", "event", "timer", "event", "event", "event"]
    await rt.drain_and_stop()


async def test_a_timer_rearmed_after_its_row_was_read_fires_at_its_new_time(
    open_store: Any, compile_yaml: Any
) -> None:
    ir = compile_yaml(TIMED)
    store = await open_store()
    clock = VirtualClock()
    rt = Runtime(store, [ir], clock)
    await rt.start()
    await _park(rt, ["k"])
    (row,) = await store.timers_for("timed", "k")
    stale = type(row)(flow=row.flow, key=row.key, timer_id=row.timer_id, due_ms=row.due_ms - 1)
    due_timers = store.due_timers

    async def with_a_stale_row(now_ms: int, limit: int | None = None, **kw: Any) -> Any:
        # As if the row had been read before the timer was re-armed for `row.due_ms`.
        return [stale, *await due_timers(now_ms, limit, **kw)]

    store.due_timers = with_a_stale_row  # type: ignore[method-assign]
    await rt.advance(HOUR_MS - 1)
    instance = await rt.get_instance("timed", "k")
    assert instance is not None and instance.state == "waiting"
    assert await store.timers_for("timed", "k") == [row]
    store.due_timers = due_timers  # type: ignore[method-assign]
    await rt.advance(1)
    instance = await rt.get_instance("timed", "k")
    assert instance is not None and instance.data["seen"] == ["timer"]
    await rt.drain_and_stop()


async def test_without_step_on_arrival_timers_pass_through_the_inbox(
    open_store: Any, compile_yaml: Any
) -> None:
    ir = compile_yaml(TIMED)
    store = await open_store()
    recorder = Recorder(store)
    rt = Runtime(store, [ir], VirtualClock(), step_on_arrival=False)
    await rt.start()
    await _park(rt, ["a", "b"])
    await rt.advance(HOUR_MS)
    assert [(size, len(result.accepted)) for size, result in recorder.fired] == [(2, 2)]
    for key in ("a", "b"):
        instance = await rt.get_instance("timed", key)
        assert instance is not None and instance.data["seen"] == ["timer"]
    await rt.drain_and_stop()
