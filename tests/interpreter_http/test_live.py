"""Live output: one readable line per transition, plain text when not a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from flowyard.compiler.api import compile_text
from flowyard.interpreter.live import LiveView, format_ms
from flowyard.interpreter.runtime import (
    EffectContext,
    EffectError,
    IncomingRecord,
    Runtime,
    Transition,
)
from flowyard.interpreter.store import SQLiteStore
from http_helpers import HarnessFactory

STAMP = r"\d\d:\d\d:\d\d\.\d\d\d"


async def run_story(make_harness: HarnessFactory) -> list[str]:
    out = io.StringIO()
    view: LiveView | None = None
    h = await make_harness(on_transition=lambda t: view.transition(t) if view else None)
    view = LiveView(
        lambda ir_hash: h.runtime.version(ir_hash).program,
        now_ms=h.runtime.clock.now_ms,
        stream=out,
        colour=False,
    )
    await h.post("/events/things", {"type": "created", "id": "t-1", "size": 2})
    await h.settle()
    await h.post("/signals/things/t-1/approve", {"ok": True})
    await h.settle()
    await h.post("/events/things", {"type": "shipped", "id": "t-1"})
    await h.settle()
    token = h.effects.callback_tokens["t-1"]
    await h.post(f"/callbacks/{token}", {"tracking": "T"})
    await h.settle()
    view.dead_letter("http:things", "no key: event.id is missing")
    return out.getvalue().splitlines()


async def test_lines_tell_the_story(make_harness: HarnessFactory) -> None:
    lines = await run_story(make_harness)
    assert not any("\x1b[" in line for line in lines), "no colour codes off a terminal"
    assert re.fullmatch(STAMP + r" things t-1  new ─Created→ open", lines[0])
    assert re.fullmatch(
        STAMP + r" things t-1  open ─signal approve→ approved  call check ✓ \d+ms", lines[1]
    )
    assert re.fullmatch(
        STAMP + r" things t-1  approved ─Shipped→ approved  call confirm ✓ \d+ms"
        r"  ⧗ awaiting callback",
        lines[2],
    )
    assert re.fullmatch(
        STAMP + r" things t-1  approved ─Shipped→ done \(final\)  call confirm ✓ \d+ms"
        r"  callback confirm ✓ \d+m?s",
        lines[3],
    )
    assert re.fullmatch(
        STAMP + r" dead letter no key: event.id is missing  \(http:things\)", lines[4]
    )


def test_format_ms() -> None:
    assert format_ms(12.4) == "12ms"
    assert format_ms(1530) == "1.5s"
    assert format_ms(185_000) == "3m05s"


FANOUT = """
flow: fan
version: 1
key: id
events:
  Go:
    topic: go
    key: event.id
effects:
  hit:
    python: nowhere:hit
    timeout: 5s
data:
  out: {type: array, default: []}
initial: idle
states:
  idle:
    on:
      Go:
        do:
          - call: hit
            for_each: "${ [1, 2, 3, 4, 5, 6, 7, 8] }"
            concurrency: 3
            with: {n: "${ item }"}
            result: out
        goto: done
  done:
    final: true
"""


async def test_a_fan_out_is_one_summed_up_line(tmp_path: Path) -> None:
    ir, diagnostics = compile_text(FANOUT, file="fan.flow.yaml", surface="yaml")
    assert ir is not None, diagnostics

    async def hit(args: Any, ctx: EffectContext) -> Any:
        if args["n"] == 5:
            raise EffectError("no", retryable=False)
        return args["n"]

    out = io.StringIO()
    store = await SQLiteStore.open(tmp_path / "fan.db", synchronous="NORMAL")
    view: list[LiveView] = []

    def show(t: Transition) -> None:
        view[0].transition(t)

    runtime = Runtime(store, [ir], effect_overrides={"hit": hit}, on_transition=show)
    view.append(
        LiveView(
            lambda h: runtime.version(h).program,
            now_ms=runtime.clock.now_ms,
            stream=out,
            colour=False,
        )
    )
    async with runtime:
        await runtime.ingest_events("go", [IncomingRecord(value={"id": "f"})])
        await runtime.wait_idle()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(
        STAMP + r" fan f  idle ─Go→ incident  call hit x\d: \d ✓ 1 ✗( \d pending)? \d+m?s"
        r"  effect 'hit' failed .*: no",
        lines[0],
    ), lines[0]
