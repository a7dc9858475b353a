"""Inputs reach the holder of their instance, whichever process they arrive at.

Two partitioned runtimes share one PostgreSQL store of 4 partitions: `a`
holds 0 and 1, `b` holds 2 and 3 (given directly, as Kafka's assignment
would). Events, a callback, signals and an operator's cancel for `a`'s
instances all arrive at `b`: `b` stores them and `a` applies them, once;
`b` steps nothing. Then the partitions move to `b` while a timer is armed
and a call awaits its callback: `b` fires the timer once, and the callback
posted to `a` now reaches `b`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler.api import compile_file
from flowyard.interpreter.runtime import EffectContext, IncomingRecord, Runtime
from flowyard.interpreter.store.postgres import PostgresStore
from flowyard.interpreter.store.targets import PostgresTarget

HERE = Path(__file__).resolve().parent
PARTITIONS = 4


@pytest.fixture
def store_url(postgres_cluster: Any, tmp_path: Path) -> str:
    return f"{postgres_cluster.dsn}?schema=route_{os.getpid()}_{tmp_path.name.replace('-', '_')}"


Tokens = dict[str, str]


@pytest.fixture
async def pair(store_url: str) -> AsyncIterator[tuple[Runtime, Runtime, Tokens]]:
    """Runtimes `a` and `b` on one store; the callback token of each key's call."""
    ir, diagnostics = compile_file(HERE / "routed.flow.yaml")
    assert ir is not None, diagnostics
    target = PostgresTarget.parse(store_url)
    tokens: Tokens = {}

    async def ship(args: Any, ctx: EffectContext) -> dict[str, Any]:
        assert ctx.callback_token is not None
        tokens[ctx.key] = ctx.callback_token
        return {"status": 202, "headers": {}, "body": None}

    runtimes = []
    for _ in range(2):
        store = await PostgresStore.open(
            target.dsn, schema=target.schema, partitioned=True, partitions=PARTITIONS
        )
        runtimes.append(Runtime(store, [ir], effect_overrides={"ship": ship}, partitioned=store))
    a, b = runtimes
    for rt in runtimes:
        await rt.start()
    await a.take_partitions([0, 1])
    await b.take_partitions([2, 3])
    try:
        yield a, b, tokens
    finally:
        for rt in runtimes:
            await rt.drain_and_stop()


def keys_held_by(store: Any, partitions: set[int], count: int) -> list[str]:
    found = []
    i = 0
    while len(found) < count:
        key = f"order-{i}"
        if store.partition_of(key) in partitions:
            found.append(key)
        i += 1
    return found


async def eventually(check: Callable[[], Any], what: str, timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not so after {timeout_s} s: {what}"
        await asyncio.sleep(0.05)


async def test_input_at_a_process_that_does_not_hold_the_instance_reaches_its_holder(
    pair: tuple[Runtime, Runtime, Tokens],
) -> None:
    a, b, tokens = pair
    mine = keys_held_by(a.store, {0, 1}, 3)

    async def state(rt: Runtime, key: str) -> tuple[str, str, dict[str, Any]] | None:
        instance = await rt.get_instance("routed", key)
        return None if instance is None else (instance.state, instance.status, instance.data)

    await b.ingest_events("opens", [IncomingRecord(value={"id": k}) for k in mine])
    await eventually(lambda: _all(len(tokens) == 3), "every call started on a")
    for key in mine:
        assert await b.resolve_callback(tokens[key], {"tracking": key})
    for key in mine:
        await eventually(
            lambda key=key: _is(state(b, key), lambda s: s[0] == "shipped"), f"{key} shipped"
        )
        await b.signal("routed", key, "nudge", {}, signal_id=f"{key}-1")
        # The same signal again, at the holder this time: applied once.
        await a.signal("routed", key, "nudge", {}, signal_id=f"{key}-1")
    await b.cancel("routed", mine[2], "asked at b")
    for key in mine[:2]:
        await eventually(
            lambda key=key: _is(state(a, key), lambda s: s[0] == "done"), f"{key} rang"
        )
        found = await state(b, key)
        assert found is not None and found[2] == {
            "shipment": {"tracking": key},
            "nudges": 1,
            "rang": 1,
        }
    await eventually(
        lambda: _is(state(a, mine[2]), lambda s: s[1] == "cancelled"), "cancelled at b"
    )
    assert b.steps == 0
    # Each input applied once: the call's acceptance and its callback are two results.
    opened = ["event", "effect_result", "effect_result", "signal"]
    for key in mine[:2]:
        assert await kinds(a, key) == [*opened, "timer"]
    assert (await kinds(a, mine[2])) in ([*opened, "cancel"], [*opened, "timer", "cancel"])


async def test_partitions_move_with_their_timers_and_awaited_callbacks(
    pair: tuple[Runtime, Runtime, Tokens],
) -> None:
    a, b, tokens = pair
    waiting, calling = keys_held_by(a.store, {0, 1}, 2)
    await a.ingest_events("opens", [IncomingRecord(value={"id": k}) for k in (waiting, calling)])
    await eventually(lambda: _all(len(tokens) == 2), "both calls started")
    assert await a.resolve_callback(tokens[waiting], {"tracking": "w"})
    await eventually(
        lambda: _is(a.get_instance("routed", waiting), lambda i: i.state == "shipped"), "shipped"
    )
    await a.signal("routed", waiting, "nudge", {})  # arms the 1 s timer, on a
    assert await a.give_up_partitions([0, 1]) == [0, 1]
    await b.take_partitions([0, 1])
    # The timer armed on a rings on b; the callback posted to a reaches b.
    assert await a.resolve_callback(tokens[calling], {"tracking": "c"})
    await eventually(
        lambda: _is(b.get_instance("routed", waiting), lambda i: i.state == "done"), "rang on b"
    )
    await eventually(
        lambda: _is(b.get_instance("routed", calling), lambda i: i.state == "shipped"),
        "callback reached b",
    )
    rung = await b.get_instance("routed", waiting)
    assert rung is not None and rung.data["rang"] == 1
    journal = await b.store.journal("routed", waiting)
    assert [e.input["kind"] for e in journal].count("timer") == 1


async def kinds(rt: Runtime, key: str) -> list[str]:
    return [str(e.input["kind"]) for e in await rt.store.journal("routed", key)]


async def _all(value: bool) -> bool:
    return value


async def _is(found: Any, test: Callable[[Any], bool]) -> bool:
    value = await found
    return value is not None and test(value)
