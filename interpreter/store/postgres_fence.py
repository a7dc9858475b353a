"""Partition epochs: a process that lost a partition writes nothing more for it.

Instances are spread over a fixed number of partitions; each partition has one
owner at a time, decided outside the store (Kafka's consumer-group protocol
assigns them; see docs/scaling.md). Taking a partition over bumps its epoch in
`partition_epochs` (`claim`). Every write transaction of a `PostgresStore` that
holds partitions begins by reading the epochs of the partitions it holds `FOR
SHARE` (`EpochFence`): if one of them moved on, the whole transaction is
refused with `FencedError` and rolled back.

Why this fences even a process that was paused and did not notice it lost
ownership: the check and the writes are one transaction, and the row lock
taken by the check makes a claim (an UPDATE of that row) wait for the
transaction to end. So a claim and a write transaction of the old owner are
ordered: either the write committed before the claim (the new owner then
reads it), or the write's check runs after the claim and sees the new epoch.
No write of an old epoch can commit after the new epoch exists. This is
Temporal's shard range id checked by every persistence write, with
PostgreSQL's row locks as the condition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..immutable import immutable
from .base import StoreError

log = logging.getLogger("flowyard.store.fence")


@immutable(kw_only=True)
class EpochHolder:
    """Who holds a partition now, as stored."""

    epoch: int
    owner: str


class FencedError(StoreError):
    """The write transaction was refused: partitions this store wrote for have a
    newer owner (`lost`: partition -> the epoch and owner now stored). Nothing
    of the transaction was written; stop working on those partitions."""

    def __init__(self, lost: Mapping[int, EpochHolder], held: Mapping[int, int]) -> None:
        self.lost = dict(lost)
        names = ", ".join(
            f"{p} (held at epoch {held[p]}, now epoch {h.epoch} of {h.owner})"
            for p, h in sorted(self.lost.items())
        )
        super().__init__(f"fenced: partition(s) {names} belong to another owner")


class PartitionNotHeldError(StoreError):
    """A partitioned store was asked to write a step of an instance whose
    partition it does not hold (never claimed, released, or lost to a newer
    owner); that write alone is refused."""

    def __init__(self, partitions: Sequence[int], names: str) -> None:
        self.partitions = sorted(set(partitions))
        listed = ", ".join(map(str, self.partitions))
        super().__init__(f"not the owner: partition(s) {listed} of {names} not held")


FencedCallback = Callable[[Mapping[int, EpochHolder]], None]
"""Told the partitions a refused transaction lost, with who holds them now."""


class EpochFence:
    """The partitions this store holds and their epochs; checked by every write
    transaction (no partitions held: nothing to check, one owner for all).

    A refused transaction drops the partitions it lost from `held` at once (so
    the next transaction passes for those still held) and tells `on_fenced`'s
    callbacks. `checked` is what the current transaction checked: the
    partitions its steps may write for."""

    def __init__(self) -> None:
        self.held: dict[int, int] = {}
        self.checked: frozenset[int] = frozenset()
        self._on_fenced: list[FencedCallback] = []

    def on_fenced(self, callback: FencedCallback) -> None:
        """Call `callback(lost)` whenever a transaction is refused."""
        self._on_fenced.append(callback)

    async def __call__(self, conn: Any) -> None:
        self.checked = frozenset()
        if not self.held:
            return
        held = dict(self.held)
        rows = await conn.fetch(
            "SELECT partition, epoch, owner FROM partition_epochs "
            "WHERE partition = ANY($1::integer[]) ORDER BY partition FOR SHARE",
            list(held),
        )
        stored = {int(r[0]): EpochHolder(epoch=int(r[1]), owner=str(r[2])) for r in rows}
        lost = {
            p: stored.get(p, EpochHolder(epoch=-1, owner="nobody"))
            for p, epoch in held.items()
            if p not in stored or stored[p].epoch != epoch
        }
        if lost:
            self._drop(lost, held)
            raise FencedError(lost, held)
        self.checked = frozenset(held)

    def _drop(self, lost: Mapping[int, EpochHolder], held: Mapping[int, int]) -> None:
        for partition in lost:
            # Unless it was claimed again meanwhile, at a newer epoch.
            if self.held.get(partition) == held[partition]:
                del self.held[partition]
        for callback in self._on_fenced:
            try:
                callback(lost)
            except Exception:
                log.exception("an on_fenced callback failed")


async def claim(conn: Any, owner: str, partitions: Sequence[int], at_ms: int) -> dict[int, int]:
    """Take `partitions` over for `owner` (one transaction on `conn`): each one's
    epoch goes up by one, fencing whoever held it. Returns partition -> new epoch.
    Waits for write transactions that hold a partition's row (their check) to end."""
    wanted = sorted(set(partitions))
    if any(p < 0 for p in wanted):
        raise ValueError("partitions are numbered from 0")
    async with conn.transaction():
        rows = await conn.fetch(
            "INSERT INTO partition_epochs (partition, epoch, owner, claimed_ms) "
            "SELECT p, 1, $2, $3 FROM unnest($1::integer[]) AS p "
            "ON CONFLICT (partition) DO UPDATE SET epoch = partition_epochs.epoch + 1, "
            "owner = excluded.owner, claimed_ms = excluded.claimed_ms "
            "RETURNING partition, epoch",
            wanted,
            owner,
            at_ms,
        )
    return {int(r[0]): int(r[1]) for r in rows}


async def holders(conn: Any) -> dict[int, EpochHolder]:
    """Every partition's current epoch and owner."""
    rows = await conn.fetch("SELECT partition, epoch, owner FROM partition_epochs")
    return {int(r[0]): EpochHolder(epoch=int(r[1]), owner=str(r[2])) for r in rows}


@immutable(kw_only=True)
class PartitionReport:
    """One partition as an operator sees it: who holds it and what waits in it."""

    partition: int
    epoch: int | None
    """None: never claimed."""
    owner: str | None
    claimed_ms: int | None
    inbox: int
    """Inputs stored and not yet applied."""
    timers: int
    calls: int
    """Effect calls not finished (pending, running or awaiting a callback)."""
    unsent: int
    """Emits not yet produced."""


async def report(conn: Any, count: int) -> list[PartitionReport]:
    """Every partition's holder and backlog, in one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        holders = {
            int(r[0]): r
            for r in await conn.fetch(
                "SELECT partition, epoch, owner, claimed_ms FROM partition_epochs"
            )
        }
        counts: dict[str, dict[int, int]] = {}
        for name, sql in (
            ("inbox", "SELECT partition, count(*) FROM inbox GROUP BY partition"),
            ("timers", "SELECT partition, count(*) FROM timers GROUP BY partition"),
            (
                "calls",
                "SELECT partition, count(*) FROM effect_calls WHERE status IN "
                "('pending', 'running', 'awaiting_callback') GROUP BY partition",
            ),
            (
                "unsent",
                "SELECT partition, count(*) FROM outbox WHERE sent_ms IS NULL GROUP BY partition",
            ),
        ):
            counts[name] = {int(r[0]): int(r[1]) for r in await conn.fetch(sql)}
    out = []
    for partition in range(count):
        held = holders.get(partition)
        out.append(
            PartitionReport(
                partition=partition,
                epoch=None if held is None else int(held[1]),
                owner=None if held is None else str(held[2]),
                claimed_ms=None if held is None else int(held[3]),
                **{name: found.get(partition, 0) for name, found in counts.items()},
            )
        )
    return out
