"""What a consumed Kafka record becomes, and the client options (no broker needed)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from flowyard.interpreter.kafka.records import DEDUP_HEADER, incoming, produced_headers
from flowyard.interpreter.kafka.settings import (
    KafkaSettings,
    KafkaSettingsError,
    check_options,
    parse_options,
)


@dataclass
class Consumed:
    value: bytes | None
    key: bytes | None = b"k1"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "orders"
    partition: int = 3
    offset: int = 41
    timestamp: int = 1_700_000_000_000


def test_a_record_is_positioned_on_its_partition_with_its_meta() -> None:
    record = incoming(Consumed(b'{"id": "a"}', headers=[("source", b"shop")]))
    assert record.value == {"id": "a"}
    assert (record.source, record.position) == ("kafka:orders:3", 41)
    assert (record.partition, record.offset, record.timestamp_ms) == (3, 41, 1_700_000_000_000)
    assert record.headers == {"source": "shop"}
    assert record.record_key == "k1"
    assert record.problem is None


def test_a_record_with_a_dedup_key_is_taken_once_by_that_key() -> None:
    record = incoming(Consumed(b"{}", headers=[(DEDUP_HEADER, b"fy-1")]))
    assert (record.source, record.position) == ("emit:fy-1", None)
    assert record.offset == 41


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"{nope", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": ["x", "\\udc00"]}', "at /a/1 holds a lone surrogate (U+DC00)"),
        (b'{"a": ' + b"1" * 5000 + b"}", "not JSON"),
        (b'{"a": "' + b"x" * 7000 + b'"}', "7,009 bytes, over the 6,000 byte bound"),
        (b"1e999", "too large for a double"),
    ],
)
def test_a_record_that_cannot_be_stored_carries_its_problem(value: bytes, problem: str) -> None:
    record = incoming(Consumed(value), max_bytes=6000)
    assert record.problem is not None and problem in record.problem
    assert isinstance(record.value, bytes) and len(record.value) <= 1024 + 3


def test_a_surrogate_pair_is_text() -> None:
    record = incoming(Consumed(b'{"a": "\\ud83d\\ude00"}'))
    assert record.problem is None and record.value == {"a": "\U0001f600"}


def test_produced_headers_carry_one_dedup_key() -> None:
    headers = produced_headers({"a": "1", DEDUP_HEADER: "forged"}, "fy-9")
    assert headers == [("a", b"1"), (DEDUP_HEADER, b"fy-9")]


def test_options_go_to_the_clients_that_take_them() -> None:
    options = parse_options(["security-protocol=SASL_SSL", "session.timeout.ms=6000"])
    assert options == {"security_protocol": "SASL_SSL", "session_timeout_ms": "6000"}
    check_options(options)
    settings = KafkaSettings(bootstrap="b:9092", options=options)
    consumer = settings.client_options(AIOKafkaConsumer)
    assert consumer["session_timeout_ms"] == 6000
    assert consumer["security_protocol"] == "SASL_SSL"
    producer = settings.client_options(AIOKafkaProducer)
    assert "session_timeout_ms" not in producer
    assert producer["bootstrap_servers"] == "b:9092"


def test_options_take_the_type_of_the_clients_parameter() -> None:
    options = parse_options(
        ["fetch_min_bytes=65536", "fetch_max_wait_ms=20", "check_crcs=false", "client_id=x"]
    )
    consumer = KafkaSettings(bootstrap="b", options=options).client_options(AIOKafkaConsumer)
    assert (consumer["fetch_min_bytes"], consumer["fetch_max_wait_ms"]) == (65536, 20)
    assert consumer["check_crcs"] is False
    assert consumer["client_id"] == "x"
    with pytest.raises(KafkaSettingsError, match="takes true or false"):
        KafkaSettings(bootstrap="b", options={"check_crcs": "no"}).client_options(AIOKafkaConsumer)


def test_bad_options_say_what_is_wrong() -> None:
    with pytest.raises(KafkaSettingsError, match="write NAME=VALUE"):
        parse_options(["security_protocol"])
    with pytest.raises(KafkaSettingsError, match="takes a whole number"):
        KafkaSettings(bootstrap="b", options={"session_timeout_ms": "soon"}).client_options(
            AIOKafkaConsumer
        )
    with pytest.raises(KafkaSettingsError, match="not an option"):
        check_options({"colour": "blue"})
