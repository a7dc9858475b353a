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

SERVING_THRESHOLDS = (500_000, 20, 20)
"""A young collection once 500,000 more container objects were made than freed,
instead of 700. 50,000 gave about 10% more events/s than 700 through
`bench/embedded.py` (flowc does likewise while compiling); 500,000 is above
what the records in flight hold at once (a Kafka fetch of 2,000 records per
partition, six partitions: some 300,000 objects, alive until their batch is
stored). Below that, young collections ran while batches were in flight and
scanned their live objects again and again: 1-10 us of a Kafka record's
CPU at 50,000 (`bench/kafka_ingest.py`, timed by `gc.callbacks`), about
none at 500,000. Garbage is nearly all freed by reference counting; only
cycles wait longer for the collector."""

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
