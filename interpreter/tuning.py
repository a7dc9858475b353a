"""Process settings for a long-running flowd: the garbage collector and the GIL.

The collector: with CPython's defaults (a young collection every 700
allocations) a busy flowd spends a noticeable share of its CPU in the
collector, much of it re-scanning objects that live as long as the process:
modules, programs, compiled expressions, cached snapshots. Nearly all of
flowd's garbage is freed by reference counting anyway; the collector is only
needed for cycles.

The GIL: the store's writer thread lets go of the GIL for every SQLite
statement and must take it back from the event loop's thread afterwards. A
thread waiting for the GIL asks the holder to let go only after the switch
interval (5 ms by default), so with the loop busy a transaction of a handful
of statements spent most of its time waiting. Every caller of the batch waits
with it, and with fewer writes in flight the loop then idles too.
"""

from __future__ import annotations

import gc
import sys

SERVING_THRESHOLDS = (50_000, 20, 20)
"""Young collections every 50,000 allocations instead of 700: about 10% more
events/s through `bench/embedded.py` (flowc does likewise while compiling)."""

SERVING_SWITCH_INTERVAL = 0.0005
"""Seconds a thread waits for the GIL before it asks for it. Over HTTP
(`bench/embedded.py`'s setup, interleaved runs): 1 ms instead of 5 ms gave
about 10% more events/s, and 0.5 ms about 4% more again once the event loop's
own work per event had shrunk; 0.25 ms was no better than 0.5 ms and varied
more (the writer's transactions get smaller, not the throughput higher)."""


def tune_for_serving() -> None:
    """Call once start-up is done: what exists now is moved out of the collector's
    sight for good (`gc.freeze`), young objects are collected less often, and
    the writer thread gets the GIL back sooner."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL)
