"""How flowd reaches a Kafka cluster: bootstrap, group, client options, bounds.

Security settings are passed through to aiokafka unchanged
(`security_protocol`, `sasl_mechanism`, `sasl_plain_username`, ...), except
that `ssl_cafile`, `ssl_certfile`, `ssl_keyfile` and `ssl_password` are turned
into the `ssl_context` aiokafka wants.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GROUP = "flowd"
DEFAULT_DEAD_LETTER_TOPIC = "flowd.dead-letters"
DEFAULT_MAX_PENDING_KEYS = 10_000
DEFAULT_MAX_PARTITION_BACKLOG = 1_000
DEFAULT_EMIT_DEDUP_RETENTION_MS = 7 * 24 * 3600 * 1000

_SSL_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password")


def check_options(options: Mapping[str, str]) -> None:
    """Raise `KafkaSettingsError` for an option no aiokafka client takes."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    known = set(_SSL_FILES)
    for client in (AIOKafkaConsumer, AIOKafkaProducer):
        known.update(inspect.signature(client).parameters)
    for name in options:
        if name not in known:
            raise KafkaSettingsError(
                f"--kafka-option {name}: not an option of aiokafka's clients "
                "(e.g. security_protocol, sasl_mechanism, sasl_plain_username, ssl_cafile)"
            )


class KafkaSettingsError(ValueError):
    """A client option flowd cannot use (the message says which and why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSettings:
    """Everything `flowd run --kafka` and `flowd send` need to reach the cluster."""

    bootstrap: str
    group: str = DEFAULT_GROUP
    options: Mapping[str, str] = field(default_factory=dict)
    """Client options passed through to aiokafka (security, timeouts)."""
    dead_letter_topic: str | None = DEFAULT_DEAD_LETTER_TOPIC
    """Where dead letters of Kafka records are produced (None: only in the store)."""
    max_pending_keys: int = DEFAULT_MAX_PENDING_KEYS
    """Pause consumption when this many keys wait to be stepped (resume below half)."""
    max_effects_in_flight: int = 10_000
    """Pause consumption when this many effect calls are in flight (resume below half)."""
    max_backlog: int | None = None
    """Pause when inputs in inboxes and effect calls waiting reach this (with a
    backlog gauge: `flowd run --max-backlog`), resume below half."""
    max_partition_backlog: int = DEFAULT_MAX_PARTITION_BACKLOG
    """Pause one partition when this many of its records stored in inboxes are
    not yet applied (resume it below half); the other partitions go on."""
    max_batch: int = 1000
    """Records taken from the consumer at a time, per partition. With the SQLite
    writer in its own process, 1,000 let the loop prepare a partition's next
    batch while the writer stores another's: `bench/kafka.py`'s (b) was 10.4-13.3%
    of (a) over five runs, against 8.9-11.2% at 2,000 (six) and 9.5-11.8% at 500
    (five), alternately (docs/performance.md, the eighth round)."""
    emit_dedup_retention_ms: int = DEFAULT_EMIT_DEDUP_RETENTION_MS
    """How long the dedup key of an emitted record applied is kept (see `dedupkeys`)."""
    replication_factor: int = 1
    create_topics: int | None = None
    """Create the topics the flows read that are missing, with this many
    partitions (`--create-topics`; None: say which are missing)."""
    """Replicas of the topics flowd creates (dead letters, the partitions topic)."""
    session_timeout_ms: int = 10_000
    """How long the group waits for a silent member before moving its
    partitions (Kafka's default, 45 s, would make fail-over slow)."""
    heartbeat_interval_ms: int = 3_000

    def client_options(self, client: type, *, group_membership: bool = False) -> dict[str, Any]:
        """Keyword arguments for an aiokafka `client` class: the bootstrap and
        those options the class takes (a consumer's timeouts are not a producer's);
        with `group_membership`, flowd's session timeouts unless options set them."""
        takes = inspect.signature(client).parameters
        out: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "client_id": "flowd"}
        if group_membership:
            out["session_timeout_ms"] = self.session_timeout_ms
            out["heartbeat_interval_ms"] = self.heartbeat_interval_ms
        ssl_files: dict[str, str] = {}
        for name, value in self.options.items():
            if name not in _SSL_FILES and name not in takes:
                continue
            if name in _SSL_FILES:
                ssl_files[name.removeprefix("ssl_")] = value
            else:
                out[name] = _typed(name, value, takes[name].default)
        if ssl_files:
            from aiokafka.helpers import create_ssl_context

            try:
                out["ssl_context"] = create_ssl_context(**ssl_files)
            except OSError as exc:
                raise KafkaSettingsError(f"--kafka-option ssl_*: {exc}") from None
        return out


def _typed(name: str, value: str, default: Any) -> Any:
    """`value` as the type of the client parameter's default: a whole number
    for `fetch_min_bytes`, true or false for `enable_idempotence`."""
    if isinstance(default, bool):
        if value.lower() not in _BOOLEANS:
            raise KafkaSettingsError(f"--kafka-option {name}={value}: {name} takes true or false")
        return _BOOLEANS[value.lower()]
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise KafkaSettingsError(
                f"--kafka-option {name}={value}: {name} takes a whole number"
            ) from None
    return value


_BOOLEANS = {"true": True, "false": False}


def parse_options(entries: Sequence[str]) -> dict[str, str]:
    """`NAME=VALUE` entries (from `--kafka-option`) as a mapping."""
    options: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        name = name.strip().replace("-", "_").replace(".", "_")
        if not sep or not name:
            raise KafkaSettingsError(
                f"--kafka-option {entry}: write NAME=VALUE, e.g. security_protocol=SASL_SSL"
            )
        options[name] = value
    return options
