"""What a `PostgresStore`'s writes need to know of store partitions.

Every row that finds work (inbox, timers, effect calls, outbox) carries the
partition of its instance's key. In partitioned mode a store also refuses
steps of instances it does not own, and tells the other processes of the inbox
rows it stored for partitions it does not hold, by `pg_notify` in the same
transaction (delivered only if it commits). The payload is JSON:
`{"from": owner id, "p": partition, "k": [[flow, key], ...]}`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from .base import StepCommit
from .partitions import partition_of
from .planning import commit_names
from .postgres_fence import EpochFence, PartitionNotHeldError

NOTIFY_PAYLOAD_BYTES = 7_000
"""Payloads stay under this size (PostgreSQL's limit is 8,000 bytes); more keys
go in more notifications."""

_NOTIFY = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"


def inbox_channel(schema: str) -> str:
    """The `LISTEN` channel of a schema's inbox: the same for every process on the
    schema, another for another schema (an identifier well under 63 bytes)."""
    return "flowd_inbox_" + hashlib.sha256(schema.encode()).hexdigest()[:16]


class StorePartitions:
    """A store's partition count, its owner id, whether it runs partitioned, and
    the partitions it holds now (those of its epoch fence)."""

    def __init__(
        self, count: int, *, partitioned: bool, owner_id: str, channel: str, fence: EpochFence
    ) -> None:
        self.count = count
        self.partitioned = partitioned
        self.owner_id = owner_id
        self.channel = channel
        self._fence = fence

    def of(self, key: str) -> int:
        """The partition of instance `key`."""
        return partition_of(key, self.count)

    def read_scope(self, partitions: Sequence[int] | None) -> list[int] | None:
        """The partitions a read for work covers: those asked for, else the held
        ones in partitioned mode, else None (all)."""
        if partitions is not None:
            return sorted(set(partitions))
        if self.partitioned:
            return sorted(self._fence.held)
        return None

    def check_owned(self, commits: Sequence[StepCommit]) -> None:
        """In partitioned mode, refuse steps of instances whose partition the
        current transaction's fence did not check."""
        if not self.partitioned:
            return
        checked = self._fence.checked
        foreign = [c for c in commits if self.of(c.key) not in checked]
        if foreign:
            raise PartitionNotHeldError([self.of(c.key) for c in foreign], commit_names(foreign))

    def owns(self, key: str) -> bool:
        """Whether a step of `key` may be written (always, unless partitioned)."""
        return not self.partitioned or self.of(key) in self._fence.checked

    def notifications(self, keys: Iterable[tuple[str, str]]) -> list[str]:
        """The payloads telling others of inbox rows stored for `keys`: one or
        more per partition not held (none unless partitioned)."""
        if not self.partitioned:
            return []
        held = self._fence.held
        by_partition: dict[int, dict[tuple[str, str], None]] = {}
        for flow, key in keys:
            partition = self.of(key)
            if partition not in held:
                by_partition.setdefault(partition, {})[(flow, key)] = None
        return [
            payload
            for partition, named in sorted(by_partition.items())
            for payload in self._payloads(partition, list(named))
        ]

    def _payloads(self, partition: int, keys: list[tuple[str, str]]) -> list[str]:
        head = f'{{"from":{json.dumps(self.owner_id)},"p":{partition},"k":['
        tail = "]}"
        payloads: list[str] = []
        named: list[str] = []
        size = len(head) + len(tail)
        unnamed = False
        for pair in keys:
            text = json.dumps(pair, separators=(",", ":"))
            if len(head) + len(text) + len(tail) > NOTIFY_PAYLOAD_BYTES:
                unnamed = True  # too long to name: an empty list says "look"
                continue
            if size + len(text) + 1 > NOTIFY_PAYLOAD_BYTES:
                payloads.append(head + ",".join(named) + tail)
                named, size = [], len(head) + len(tail)
            named.append(text)
            size += len(text) + 1
        if named:
            payloads.append(head + ",".join(named) + tail)
        if unnamed:
            payloads.append(head + tail)
        return payloads


async def notify_inbox(
    conn: Any, partitions: StorePartitions, keys: Iterable[tuple[str, str]]
) -> None:
    """Queue the notifications for inbox rows stored for `keys`, in one statement;
    PostgreSQL sends them when (and if) the transaction commits."""
    payloads = partitions.notifications(keys)
    if payloads:
        await conn.execute(_NOTIFY, partitions.channel, payloads)


def decode_notification(payload: str) -> tuple[str, int, list[tuple[str, str]]]:
    """A payload's sender, partition and keys."""
    message = json.loads(payload)
    return str(message["from"]), int(message["p"]), [(str(f), str(k)) for f, k in message["k"]]
