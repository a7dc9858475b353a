"""Kafka records in and out: what a consumed record becomes, what a produced one carries.

A consumed record becomes an `IncomingRecord` whose source is its partition
(`kafka:<topic>:<partition>`, position = offset): the same id under which the
consumer stores how far that partition has been ingested, in the transaction
that stores the record. A record produced by a flowd (an `emit`) carries a
stable dedup key header; such a record's source is that key instead
(`emit:<dedup key>`), so a record produced twice (the outbox relay is
at-least-once) is applied once.

A record that cannot be stored (over the size bound, not UTF-8, not JSON, a
string with a lone surrogate) is turned into a record carrying its `problem`:
it becomes a dead letter and never holds up its partition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .. import jsontext
from ..runtime.ingest import IncomingRecord

DEDUP_HEADER = "flowyard-dedup-key"
"""The header holding an emitted record's stable dedup key."""

MAX_RECORD_BYTES = 1024 * 1024
"""Records with a larger value are dead letters (the store keeps a prefix of them)."""

KEPT_PREFIX = 1024
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
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


def incoming(record: ConsumedRecord, *, max_bytes: int = MAX_RECORD_BYTES) -> IncomingRecord:
    """What the runtime ingests for one consumed record."""
    headers = {name: _text(value) for name, value in record.headers}
    key = None if record.key is None else _text(record.key)
    dedup = headers.get(DEDUP_HEADER)
    if dedup:
        source, position = f"emit:{dedup}", None
    else:
        source, position = partition_source(record.topic, record.partition), record.offset
    raw = record.value or b""
    value, problem = _readable(raw, max_bytes)
    return IncomingRecord(
        value=value,
        headers=headers,
        record_key=key,
        source=source,
        position=position,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        problem=problem,
    )


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _readable(raw: bytes, max_bytes: int) -> tuple[Any, str | None]:
    """The parsed value, or a prefix of the raw text and why it cannot be taken."""
    if len(raw) > max_bytes:
        return _prefix(raw), f"the record is {len(raw):,} bytes, over the {max_bytes:,} byte bound"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _prefix(raw), "the payload is not UTF-8"
    try:
        value = jsontext.loads(text)
    except ValueError as exc:
        return _prefix(raw), f"the payload is not JSON: {exc}"
    # Only a \uD800-\uDFFF escape can write a surrogate (UTF-8 cannot encode one):
    # no such escape, no walk.
    where = lone_surrogate(value) if _SURROGATE_ESCAPE.search(raw) else None
    if where is not None:
        return _prefix(raw), f"the payload holds a lone surrogate (not Unicode text) at {where}"
    return value, None


def _prefix(raw: bytes) -> bytes:
    """What a dead letter keeps of an unreadable value (its text, decoded leniently)."""
    return raw if len(raw) <= KEPT_PREFIX else raw[:KEPT_PREFIX] + b"..."


def lone_surrogate(value: Any, path: str = "$") -> str | None:
    """The path of the first string (or object key) in `value` that holds a lone
    surrogate (JSON's `\\ud800` escapes can write one; it cannot be stored as UTF-8)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and not _encodable(item):
                return where
        elif isinstance(item, dict):
            for k, v in item.items():
                if not _encodable(k):
                    return f"{where} (a key)"
                stack.append((v, f"{where}.{k}"))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def produced_headers(headers: Mapping[str, str], dedup_key: str) -> list[tuple[str, bytes]]:
    """The headers of a produced record: its own, and the dedup key."""
    out = [(name, value.encode("utf-8")) for name, value in headers.items() if name != DEDUP_HEADER]
    out.append((DEDUP_HEADER, dedup_key.encode("utf-8")))
    return out
