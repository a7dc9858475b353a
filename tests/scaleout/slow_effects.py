"""The zombie test's python effect: takes its time, so calls are in flight when flowd is paused."""

from __future__ import annotations

import asyncio
from typing import Any

from flowyard.interpreter.effects import EffectContext


async def nap(args: dict[str, Any], ctx: EffectContext) -> dict[str, Any]:
    """Sleep `args.s` seconds, then say which attempt of which call this was."""
    await asyncio.sleep(float(args["s"]))
    return {"call_id": ctx.call_id, "attempt": ctx.attempt}
