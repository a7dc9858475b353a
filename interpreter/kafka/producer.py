"""Producing to Kafka: the outbox's emits, dead letters, `flowd send`.

One idempotent producer (`acks=all`, so the broker drops a retried batch it
already has) per flowd. `KafkaEmitter` is the outbox relay's sink: rows are
produced, acknowledged, and only then marked sent in the store, so a crash in
between produces them again; each carries the stable dedup key header that
flowd's own ingestion uses to apply a re-produced record once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from ..store import OutboxRow
from .records import produced_headers
from .settings import KafkaSettings

MAX_REQUEST_BYTES = 4 * 1024 * 1024


def new_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """An idempotent producer for `settings` (not started)."""
    options = settings.client_options(AIOKafkaProducer)
    options.setdefault("max_request_size", MAX_REQUEST_BYTES)
    return AIOKafkaProducer(enable_idempotence=True, acks="all", **options)


def encode_value(value: Any) -> bytes:
    """A JSON value as the bytes of a record."""
    return orjson.dumps(value)


class KafkaEmitter:
    """The outbox relay's sink: emitted records go to their Kafka topics."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, rows: Sequence[OutboxRow]) -> None:
        """Produce `rows` and wait until the broker has every one; raise otherwise."""
        await produce(
            self._producer,
            [
                (r.topic, r.key, encode_value(r.value), produced_headers(r.headers, r.dedup_key))
                for r in rows
            ],
        )


Produced = tuple[str, str | bytes | None, bytes, Sequence[tuple[str, bytes]]]
"""A record to produce: topic, key (text is sent as UTF-8), value, headers."""


async def produce(producer: AIOKafkaProducer, records: Sequence[Produced]) -> None:
    """Produce `records` (in order per partition) and wait for every acknowledgement."""
    waiting = []
    for topic, key, value, headers in records:
        waiting.append(
            await producer.send(
                topic,
                value=value,
                key=key.encode("utf-8") if isinstance(key, str) else key,
                headers=list(headers),
            )
        )
    for future in waiting:
        await future


def header_list(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Text headers as a record's headers."""
    return [(name, value.encode("utf-8")) for name, value in headers.items()]
