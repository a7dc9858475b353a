"""Kafka records in and out: what a consumed record becomes, what a produced one carries.

A consumed record becomes an `IncomingRecord` whose source is its partition
(`kafka:<topic>:<partition>`, position = offset): the same id under which the
consumer stores how far that partition has been ingested, in the transaction
that stores the record. A record produced by a flowd (an `emit`) carries a
stable dedup key header; such a record's source is that key instead
(`emit:<dedup key>`), so a record produced twice (the outbox relay is
at-least-once) is applied once.

A record that cannot be stored (over the size bound, not UTF-8, not JSON, or
JSON the store cannot hold: a lone surrogate, an integer too long; see
`storable`) is turned into a record carrying its `problem`: it becomes a dead
letter and never holds up its partition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .. import jsontext
from ..runtime.ingest import IncomingRecord

DEDUP_HEADER = "flowyard-dedup-key"
"""The header holding an emitted record's stable dedup key."""

MAX_RECORD_BYTES = 1024 * 1024
"""Records with a larger value are dead letters (the store keeps a prefix of them)."""

KEPT_PREFIX = 1024
"""How much of an unreadable or oversized value a dead letter keeps."""


class ConsumedRecord(Protocol):
    """The fields of aiokafka's `ConsumerRecord` that flowd reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


def partition_source(topic: str, partition: int) -> str:
    """The source id of one partition (its stored position is the last offset ingested)."""
    return f"kafka:{topic}:{partition}"


def incoming(
    record: ConsumedRecord, *, max_bytes: int = MAX_RECORD_BYTES, source: str | None = None
) -> IncomingRecord:
    """What the runtime ingests for one consumed record; `source` is its
    partition's (`partition_source`), when the caller has it already."""
    if record.headers:
        headers = {name: _text(value) for name, value in record.headers}
        dedup = headers.get(DEDUP_HEADER)
    else:
        headers, dedup = {}, None
    key = None if record.key is None else _text(record.key)
    if dedup:
        source, position = f"emit:{dedup}", None
    else:
        position = record.offset
        if source is None:
            source = partition_source(record.topic, record.partition)
    raw = record.value or b""
    value, problem = _readable(raw, max_bytes)
    # Positional: built once per record (see `immutable`).
    return IncomingRecord(
        value,
        headers,
        key,
        source,
        position,
        record.partition,
        record.offset,
        record.timestamp,
        "topic",  # origin
        problem,
        record.key,
    )


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _readable(raw: bytes, max_bytes: int) -> tuple[Any, str | None]:
    """The parsed value, or a prefix of the raw text and why it cannot be taken."""
    if len(raw) > max_bytes:
        return _prefix(raw), f"the record is {len(raw):,} bytes, over the {max_bytes:,} byte bound"
    try:
        # Also refuses what JSON can write but the store cannot hold (see `storable`).
        return jsontext.loads(raw), None
    except UnicodeDecodeError:
        return _prefix(raw), "the payload is not UTF-8"
    except ValueError as exc:
        return _prefix(raw), f"the payload is not JSON: {exc}"


def _prefix(raw: bytes) -> bytes:
    """What a dead letter keeps of an unreadable value (its text, decoded leniently)."""
    return raw if len(raw) <= KEPT_PREFIX else raw[:KEPT_PREFIX] + b"..."


def produced_headers(headers: Mapping[str, str], dedup_key: str) -> list[tuple[str, bytes]]:
    """The headers of a produced record: its own, and the dedup key."""
    out = [(name, value.encode("utf-8")) for name, value in headers.items() if name != DEDUP_HEADER]
    out.append((DEDUP_HEADER, dedup_key.encode("utf-8")))
    return out
