"""Emits leave through the outbox to the embedded log, where other flows read them;
versions run side by side."""

from __future__ import annotations

from typing import Any

from flowyard.interpreter.runtime import IncomingRecord, Runtime, VirtualClock

PRODUCER = """
flow: producer
version: 1
key: id
events:
  Start:
    topic: starts
    key: event.id
effects:
  announce:
    emit: {topic: pings, key: "${ key }"}
initial: idle
states:
  idle:
    on:
      Start:
        do:
          - call: announce
            with: {id: "${ key }", n: "${ event.n }"}
        goto: done
  done: {final: true}
"""

CONSUMER = """
flow: consumer
version: 1
key: id
events:
  Ping:
    topic: pings
    key: event.id
    schema:
      type: object
      required: [id, n]
data:
  total: {type: integer, default: 0}
initial: listening
states:
  listening:
    on:
      Ping:
        do:
          - set: {total: "${ data.total + event.n }"}
"""


async def test_emit_reaches_another_flow_through_the_log(
    open_store: Any, compile_yaml: Any
) -> None:
    irs = [compile_yaml(PRODUCER), compile_yaml(CONSUMER)]
    rt = Runtime(await open_store(), irs, VirtualClock())
    await rt.start()
    await rt.ingest_events(
        "starts",
        [IncomingRecord(value={"id": "a", "n": 2}), IncomingRecord(value={"id": "b", "n": 3})],
    )
    await rt.wait_idle()
    log = await rt.store.read_log("pings")
    assert [(r.key, r.value) for r in log] == [
        ("a", {"id": "a", "n": 2}),
        ("b", {"id": "b", "n": 3}),
    ]
    assert len({r.dedup_key for r in log}) == 2
    assert await rt.store.pending_outbox() == []
    for key, total in (("a", 2), ("b", 3)):
        instance = await rt.get_instance("consumer", key)
        assert instance is not None and instance.data["total"] == total
    await rt.drain_and_stop()

    # A restart neither re-relays nor re-consumes.
    rt2 = Runtime(await open_store(), irs, VirtualClock())
    await rt2.start()
    await rt2.wait_idle()
    assert len(await rt2.store.read_log("pings")) == 2
    instance = await rt2.get_instance("consumer", "a")
    assert instance is not None and (instance.seq, instance.data["total"]) == (1, 2)
    await rt2.drain_and_stop()


TWO_STEP = """
flow: versioned
version: VERSION
key: id
events:
  Go:
    topic: go
    key: event.id
  Next:
    topic: next
    key: event.id
data:
  path: {type: string, default: ""}
initial: a
states:
  a:
    on:
      Go: {goto: b}
  b:
    on:
      Next:
        do:
          - set: {path: "PATH"}
        goto: c
  c: {final: true}
"""


async def test_running_instances_keep_their_version(open_store: Any, compile_yaml: Any) -> None:
    v1 = compile_yaml(TWO_STEP.replace("VERSION", "1").replace("PATH", "v1"))
    v2 = compile_yaml(TWO_STEP.replace("VERSION", "2").replace("PATH", "v2"))
    assert v1["hash"] != v2["hash"]
    rt = Runtime(await open_store(), [v1], VirtualClock())
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "old"})])
    await rt.wait_idle()
    await rt.drain_and_stop()

    # Deploy v2 only: v1 comes back from the store for the instance pinned to it.
    rt2 = Runtime(await open_store(), [v2], VirtualClock())
    await rt2.start()
    assert rt2.current_version("versioned").hash == v2["hash"]  # type: ignore[union-attr]
    await rt2.ingest_events("go", [IncomingRecord(value={"id": "new"})])
    await rt2.ingest_events(
        "next", [IncomingRecord(value={"id": "old"}), IncomingRecord(value={"id": "new"})]
    )
    await rt2.wait_idle()
    old = await rt2.get_instance("versioned", "old")
    new = await rt2.get_instance("versioned", "new")
    assert old is not None and new is not None
    assert (old.ir_hash, old.data["path"], old.state) == (v1["hash"], "v1", "c")
    assert (new.ir_hash, new.data["path"], new.state) == (v2["hash"], "v2", "c")
    stored = {ir.hash for ir in await rt2.store.load_irs()}
    assert stored == {v1["hash"], v2["hash"]}
    await rt2.drain_and_stop()


async def test_newest_version_wins_when_both_are_loaded(open_store: Any, compile_yaml: Any) -> None:
    v1 = compile_yaml(TWO_STEP.replace("VERSION", "1").replace("PATH", "v1"))
    v2 = compile_yaml(TWO_STEP.replace("VERSION", "2").replace("PATH", "v2"))
    rt = Runtime(await open_store(), [v2, v1], VirtualClock())
    await rt.start()
    await rt.ingest_events("go", [IncomingRecord(value={"id": "k"})])
    await rt.wait_idle()
    instance = await rt.get_instance("versioned", "k")
    assert instance is not None and instance.ir_hash == v2["hash"]
    await rt.drain_and_stop()
