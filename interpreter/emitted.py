"""What flows emitted: outbox rows not yet relayed and the embedded log's records.

With Kafka as the sink, relayed records are in Kafka; only the pending ones
are in the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .history import iso
from .program import Program
from .store import LogRecord, OutboxRow, Store


def outbox_json(row: OutboxRow) -> dict[str, Any]:
    """An outbox row not yet relayed."""
    return {
        "topic": row.topic,
        "key": row.key,
        "value": row.value,
        "headers": row.headers,
        "dedup_key": row.dedup_key,
        "created": iso(row.created_ms),
    }


def log_json(record: LogRecord) -> dict[str, Any]:
    """A record of the embedded log."""
    return {
        "offset": record.offset,
        "topic": record.topic,
        "key": record.key,
        "value": record.value,
        "headers": record.headers,
        "dedup_key": record.dedup_key,
        "appended": iso(record.appended_ms),
    }


async def emitted(
    store: Store, topics: list[str], *, after_offset: int, limit: int
) -> dict[str, Any]:
    """What flows emitted on `topics`: outbox rows waiting to be relayed
    (`pending`), and embedded-log records past `after_offset` (`log`, oldest
    first, at most `limit`; `next_after_offset` pages on)."""
    pending = [outbox_json(row) for row in await store.pending_outbox() if row.topic in topics]
    records: list[LogRecord] = []
    for topic in topics:
        records.extend(await store.read_log(topic, after_offset, limit + 1))
    records.sort(key=lambda r: r.offset)
    more = len(records) > limit
    records = records[:limit]
    return {
        "topics": topics,
        "pending": pending[:limit],
        "log": [log_json(r) for r in records],
        "next_after_offset": records[-1].offset if more and records else None,
    }


def emit_topics(programs: Iterable[Program]) -> list[str]:
    """The topics the programs emit to."""
    return sorted(
        {
            str(effect.spec["topic"])
            for program in programs
            for effect in program.effects.values()
            if effect.kind == "emit"
        }
    )
