"""The zombie test's python effect: takes its time, so calls are in flight when
flowd is paused; each call appends a JSON line (call id, idempotency key, pid)
to the file named by `FLOWYARD_NAP_LOG`, so the test sees who ran what."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from flowyard.interpreter.effects import EffectContext


async def nap(args: dict[str, Any], ctx: EffectContext) -> dict[str, Any]:
    """Sleep `args.s` seconds, then say which attempt of which call this was."""
    line = {"call_id": ctx.call_id, "idempotency_key": ctx.idempotency_key, "pid": os.getpid()}
    fd = os.open(os.environ["FLOWYARD_NAP_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)
    await asyncio.sleep(float(args["s"]))
    return {"call_id": ctx.call_id, "attempt": ctx.attempt}
