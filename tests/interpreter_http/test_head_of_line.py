"""Head-of-line, end to end through HTTP: a key waiting 5 s on an effect holds up no other key."""

from __future__ import annotations

import asyncio
import time

from flowyard.interpreter.runtime import Transition
from http_helpers import HarnessFactory

SLOW_SECONDS = 5.0
OTHERS = 50


async def test_a_slow_key_does_not_delay_fifty_others(make_harness: HarnessFactory) -> None:
    approved_at: dict[str, float] = {}

    def watch(t: Transition) -> None:
        if t.result.instance.state == "approved":
            approved_at.setdefault(t.key, time.monotonic())

    h = await make_harness(on_transition=watch)
    h.effects.check_delays["slow"] = SLOW_SECONDS
    started = time.monotonic()
    assert (await h.post("/events/things", {"type": "created", "id": "slow", "size": 1}))[0] == 202
    assert (await h.post("/signals/things/slow/approve", {"ok": True}))[0] == 202
    others = [f"k{i:02d}" for i in range(OTHERS)]
    batch = [{"type": "created", "id": key, "size": 1} for key in others]
    assert (await h.post("/events/things", batch))[0] == 202
    for key in others:
        assert (await h.post(f"/signals/things/{key}/approve", {"ok": True}))[0] == 202
    while "slow" not in approved_at and time.monotonic() - started < SLOW_SECONDS + 10:
        await asyncio.sleep(0.05)
    assert set(others) <= set(approved_at), "some keys never completed"
    slowest_other = max(approved_at[key] for key in others)
    assert slowest_other < approved_at["slow"], "a key waited behind the slow one"
    assert slowest_other - started < SLOW_SECONDS / 2
    assert approved_at["slow"] - started >= SLOW_SECONDS
