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

SERVING_SWITCH_INTERVAL = 0.0001
"""Seconds a thread waits for the GIL before it asks for it. Over HTTP
(`bench/embedded.py`'s setup, interleaved runs): 1 ms instead of 5 ms gave
about 10% more events/s, and 0.5 ms about 4% more again once the event loop's
own work per event had shrunk. 0.1 ms instead of 0.5 ms: the same over HTTP
(three alternate runs each, within the noise), the same for Kafka at full
speed, and quicker commits at half of it: a transaction of a few partitions'
batches waits for the GIL once per statement, up to this long while the loop
steps other batches. `bench/kafka.py`'s p99 at 17,000 records/s, alternately:
168 and 79 ms at 0.5 ms, 61 and 60 ms at 0.1 ms (`bench/kafka_ingest.py
--batch 20`: 19,100 to 20,500-21,300 records/s); see docs/performance.md."""


def tune_for_serving() -> None:
    """Call once start-up is done: what exists now is moved out of the collector's
    sight for good (`gc.freeze`), young objects are collected less often, and
    the writer thread gets the GIL back sooner."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL)
