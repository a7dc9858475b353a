"""The crash test's python effect: fails each call's first attempt, records every attempt.

Each attempt appends JSON lines to the file named by `FLOWYARD_CHAOS_LOG` (one
`os.write` on an O_APPEND descriptor per line, so a SIGKILL never leaves half
a line): `start` when it begins, then `failed` or `done`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Any

from flowyard.interpreter.effects import EffectContext, EffectError


def _record(ctx: EffectContext, phase: str) -> None:
    entry = {
        "call_id": ctx.call_id,
        "key": ctx.key,
        "attempt": ctx.attempt,
        "idempotency_key": ctx.idempotency_key,
        "phase": phase,
    }
    fd = os.open(os.environ["FLOWYARD_CHAOS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
    finally:
        os.close(fd)


async def work(args: dict[str, Any], ctx: EffectContext) -> dict[str, Any]:
    """Fail the first attempt of every call; succeed afterwards."""
    _record(ctx, "start")
    await asyncio.sleep(random.uniform(0, 0.03))
    if ctx.attempt == 1:
        _record(ctx, "failed")
        raise EffectError("the first attempt fails on purpose")
    _record(ctx, "done")
    return {"phase": args.get("phase"), "n": args.get("n"), "attempt": ctx.attempt}
