"""Child process for test_timer_crash.py: fires a store's overdue timers.

Usage: python timer_crash_run.py DB IR.json BATCH. Runs a runtime on the
system clock, with BATCH timers per store transaction, until it is idle (or
killed), then drains and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from flowyard.interpreter.runtime import Runtime, timers
from flowyard.interpreter.store import SQLiteStore


async def main(db: str, ir_path: str, batch: int) -> None:
    timers.FIRE_BATCH = batch
    ir = json.loads(Path(ir_path).read_text(encoding="utf-8"))
    store = await SQLiteStore.open(db, synchronous="FULL")
    runtime = Runtime(store, [ir])
    await runtime.start()
    await runtime.wait_idle()
    await runtime.drain_and_stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
