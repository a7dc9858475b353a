"""Store partitions: which of `count` partitions an instance belongs to.

Kafka's default partitioner on the instance key, so a topic keyed by instance
key with as many partitions lines up with the store's partitions one to one
(docs/scaling.md). The flow plays no part: one key is one partition in every flow.
"""

from __future__ import annotations

import functools

from aiokafka.partitioner import murmur2

DEFAULT_PARTITIONS = 12
"""The partition count of a new PostgreSQL schema unless one is asked for."""

_CACHED_KEYS = 65_536


@functools.lru_cache(maxsize=_CACHED_KEYS)
def partition_of(key: str, count: int) -> int:
    """The partition of instance `key` among `count`: `(murmur2(key) & 0x7fffffff) % count`,
    as `aiokafka`'s `DefaultPartitioner` places a record with that key. Cached: the
    hash is pure Python, and a running process writes for the same keys again and again."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % count


def check_count(count: int) -> int:
    """`count`, if it can be a partition count."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"a partition count is a whole number from 1, not {count!r}")
    return count
