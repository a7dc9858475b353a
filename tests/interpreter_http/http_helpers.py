"""Helpers for the HTTP ingress tests: a test flow, steerable effects and a harness
(a real Runtime on a temporary SQLite store behind aiohttp's test client)."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from flowyard.compiler.api import compile_text
from flowyard.interpreter.runtime import EffectContext, EffectError, Runtime
from flowyard.interpreter.store import SQLiteStore

THINGS_FLOW = """
flow: things
version: 1
description: A small flow that exercises every HTTP route.
key: id
events:
  Created:
    topic: things
    match: {type: created}
    key: event.id
    schema:
      type: object
      required: [type, id, size]
      properties:
        type: {type: string}
        id: {type: string}
        size: {type: integer, minimum: 0}
  Shipped:
    topic: things
    match: {type: shipped}
    key: event.id
signals:
  approve:
    schema:
      type: object
      required: [ok]
      properties:
        ok: {type: boolean}
effects:
  check:
    python: http_test_effects:check
    timeout: 30s
    retry: {attempts: 1}
  confirm:
    python: http_test_effects:confirm
    timeout: 5s
    callback: {timeout: 1h}
data:
  size: {type: integer, default: 0}
  checked: {type: object, default: {}}
  confirmation: {type: object, default: {}}
initial: new
states:
  new:
    on:
      Created:
        do:
          - set: {size: "${ event.size }"}
        goto: open
  open:
    on:
      approve:
        - when: event.ok
          do:
            - call: check
              with: {size: "${ data.size }"}
              result: checked
          goto: approved
        - goto: rejected
  approved:
    on:
      Shipped:
        do:
          - call: confirm
            with: {id: "${ key }"}
            result: confirmation
        goto: done
  rejected:
    final: true
  done:
    final: true
"""


def compile_things() -> dict[str, Any]:
    """The IR of the test flow."""
    ir, diagnostics = compile_text(
        textwrap.dedent(THINGS_FLOW), file="things.flow.yaml", surface="yaml"
    )
    assert ir is not None, "\n".join(str(d) for d in diagnostics)
    return ir


@dataclass
class Effects:
    """Stand-ins for the flow's python effects, steerable by the tests."""

    fail_check: bool = False
    check_delays: dict[str, float] = field(default_factory=dict)
    check_gates: dict[str, asyncio.Event] = field(default_factory=dict)
    """A check of a key with a gate here waits until the gate is set."""
    checks: list[dict[str, Any]] = field(default_factory=list)
    callback_tokens: dict[str, str] = field(default_factory=dict)

    async def check(self, args: Any, ctx: EffectContext) -> Any:
        self.checks.append(dict(args))
        await asyncio.sleep(self.check_delays.get(ctx.key, 0))
        gate = self.check_gates.get(ctx.key)
        if gate is not None:
            await gate.wait()
        if self.fail_check:
            raise EffectError("the checker is down", retryable=False)
        return {"ok": True, "size": args["size"]}

    async def confirm(self, args: Any, ctx: EffectContext) -> Any:
        assert ctx.callback_token is not None
        self.callback_tokens[ctx.key] = ctx.callback_token
        return {"accepted": True}


@dataclass
class Harness:
    """A running runtime, its store and a client for its HTTP app."""

    runtime: Runtime
    store: SQLiteStore
    client: TestClient[Any, Any]
    effects: Effects
    dead_letters: list[tuple[str, str]]

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        """POST JSON (or raw `data=`) and return (status, parsed JSON answer)."""
        if "data" not in kwargs:
            kwargs["json"] = body
        response = await self.client.post(path, **kwargs)
        return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, Any]:
        response = await self.client.get(path)
        return response.status, await response.json()

    async def settle(self) -> None:
        await self.runtime.wait_idle()


HarnessFactory = Callable[..., Awaitable[Harness]]


async def stop(harness: Harness) -> None:
    """Close the client and drain the runtime (idempotent)."""
    await harness.client.close()
    await harness.runtime.drain_and_stop()
