"""Partitioned mode: the store partitions this process steps, and moving them.

Several `flowd` processes share one PostgreSQL store (docs/scaling.md). Every
instance belongs to one partition (`PartitionedStore.partition_of(key)`), and
only the process holding a partition steps its instances, fires its timers,
runs its effect calls and relays its emits; which process holds which is
decided by a Kafka consumer group (`kafka/membership.py`), never here. Any
process may *store* input for any instance: input for another process's
instance goes to its inbox in the shared store, and the store notifies the
holder.

`take` claims partitions in the store (their epochs go up, fencing the last
holder: `store/postgres_fence.py`) before anything of them is stepped, then
loads their work. `give_up` stops stepping them, waits for the turns and
effect calls in flight, and only then releases them. A write refused because a
partition moved on (`FencedError`) gives it up at once, without waiting for
the group to say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from ..immutable import immutable
from .tasks import cancel

log = logging.getLogger("flowyard.runtime.partitions")

KeyId = tuple[str, str]

InboxNotice = Callable[[int, list[tuple[str, str]]], None]
"""`(partition, [(flow, key), ...])`: another process stored input for those keys."""

SWEEP_EVERY_S = 5.0
"""How often the inboxes of held partitions are read for keys whose
notification went missing (a listener connection that dropped, say)."""


class PartitionedStore(Protocol):
    """What partitioned mode needs of a store beyond `Store` (`PostgresStore`)."""

    @property
    def owner_id(self) -> str: ...

    @property
    def partition_count(self) -> int: ...

    def partition_of(self, key: str) -> int: ...

    async def claim_partitions(
        self, owner: str, partitions: Sequence[int], *, at_ms: int
    ) -> dict[int, int]: ...

    def release_partitions(self, partitions: Sequence[int]) -> None: ...

    def held_partitions(self) -> dict[int, int]: ...

    async def barrier(self) -> None:
        """Return once every write queued before the call has committed or failed."""

    async def listen_inbox(
        self, callback: InboxNotice, *, on_reconnect: Callable[[], None] | None = None
    ) -> None: ...

    def on_fenced(self, callback: Callable[[Mapping[int, Any]], None]) -> None: ...

    async def keys_with_ready_inbox(
        self, now_ms: int, *, partitions: Sequence[int] | None = None
    ) -> list[tuple[str, str]]: ...


@immutable(kw_only=True)
class PartitionsStatus:
    """What this process holds, for `/healthz` and the live output."""

    owner: str
    count: int
    held: Mapping[int, int]
    """Partition -> the epoch it is held at."""
    moving: tuple[int, ...]
    """Partitions being claimed or given up right now."""

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "partitions": self.count,
            "held": {str(p): e for p, e in sorted(self.held.items())},
            "moving": list(self.moving),
        }


@immutable(kw_only=True)
class PartitionHooks:
    """What moving partitions in and out asks of the rest of the runtime."""

    now_ms: Callable[[], int]
    notify: Callable[[str, str], None]
    """A key may have input only the store knows of: schedule it."""
    resume_effect_calls: Callable[[Sequence[int]], Awaitable[None]]
    """Re-issue the calls the partitions' last holder left pending or running."""
    wait_turns: Callable[[Callable[[KeyId], bool]], Awaitable[None]]
    """Wait for the turns in flight of the keys matching the predicate."""
    cancel_effects: Callable[[Callable[[KeyId], bool]], Awaitable[None]]
    """Cancel the effect calls in flight of the keys matching (they stay in the store)."""
    forget: Callable[[Callable[[KeyId], bool]], None]
    """Drop what memory holds of the keys matching (snapshots, inbox rows)."""
    woken: Callable[[], None]
    """Partitions came or went: the timer task and the outbox relay look again."""
    known: Callable[[KeyId], bool]
    """Whether the key is already scheduled or has input in memory."""


class OwnedPartitions:
    """The partitions this process steps; `take` and `give_up` move them."""

    def __init__(self, store: PartitionedStore, hooks: PartitionHooks) -> None:
        self._store = store
        self._hooks = hooks
        self._owned: set[int] = set()
        self._moving: set[int] = set()
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self._fenced: set[asyncio.Task[list[int]]] = set()
        self._sweeps: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> PartitionedStore:
        return self._store

    def owns(self, key: str) -> bool:
        """Whether this process steps the instances keyed `key` now."""
        return self._store.partition_of(key) in self._owned

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._owned)

    def status(self) -> PartitionsStatus:
        held = self._store.held_partitions()
        return PartitionsStatus(
            owner=self._store.owner_id,
            count=self._store.partition_count,
            held={p: e for p, e in held.items() if p in self._owned},
            moving=tuple(sorted(self._moving)),
        )

    async def start(self) -> None:
        """Listen for other processes' inbox rows and sweep now and then."""
        self._store.on_fenced(self._on_fenced)
        await self._store.listen_inbox(
            self._on_inbox, on_reconnect=lambda: self._sweep_soon(sorted(self._owned))
        )
        self._sweeper = asyncio.create_task(self._sweep(), name="flowd-partition-sweep")

    async def stop(self) -> None:
        """Stop sweeping (the store's close ends the listener); held partitions
        are not released: the next holder's claim fences them."""
        task, self._sweeper = self._sweeper, None
        await cancel(task)
        for other in [*self._fenced, *self._sweeps]:
            other.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await other

    async def take(self, partitions: Collection[int]) -> dict[int, int]:
        """Claim `partitions` and start stepping their instances; returns the
        epochs claimed (partitions already held are left as they are)."""
        async with self._lock:
            new = sorted(set(partitions) - self._owned)
            if not new:
                return {}
            self._moving.update(new)
            try:
                epochs = await self._store.claim_partitions(
                    self._store.owner_id, new, at_ms=self._hooks.now_ms()
                )
                coming = set(new)

                def arriving(kid: KeyId) -> bool:
                    return self._store.partition_of(kid[1]) in coming

                self._hooks.forget(arriving)
                # From here notifications for them count; a row committed before
                # this point is found by the read below.
                self._owned.update(new)
                try:
                    for flow, key in await self._store.keys_with_ready_inbox(
                        self._hooks.now_ms(), partitions=new
                    ):
                        self._hooks.notify(flow, key)
                    await self._hooks.resume_effect_calls(new)
                except BaseException:
                    # Not loaded: a retry claims them again and loads them whole.
                    self._owned.difference_update(new)
                    self._hooks.forget(arriving)
                    raise
            finally:
                self._moving.difference_update(new)
            self._hooks.woken()
            log.info("took partitions %s (epochs %s)", new, epochs)
            return epochs

    async def give_up(self, partitions: Collection[int], *, fenced: bool = False) -> list[int]:
        """Stop stepping `partitions`, wait for their turns and effect calls in
        flight, forget them and release them (`fenced`: they were lost already,
        so there is nothing to wait for: their writes are refused anyway)."""
        async with self._lock:
            gone = sorted(set(partitions) & self._owned)
            if not gone:
                return []
            self._moving.update(gone)
            self._owned.difference_update(gone)
            lost = set(gone)

            def moved(kid: KeyId) -> bool:
                return self._store.partition_of(kid[1]) in lost

            try:
                await self._hooks.cancel_effects(moved)
                await self._hooks.wait_turns(moved)
                self._hooks.forget(moved)
                # A write for them queued before they left `_owned` (a timer
                # firing, an effect's result) is still checked against their
                # epochs: it commits before anyone else holds them, or is refused.
                await self._store.barrier()
                self._store.release_partitions(gone)
            finally:
                self._moving.difference_update(gone)
            self._hooks.woken()
            log.info("%s partitions %s", "lost" if fenced else "gave up", gone)
            return gone

    def _on_inbox(self, partition: int, kids: list[tuple[str, str]]) -> None:
        if partition not in self._owned:
            return
        if not kids:  # keys too long to name: read the partition's inbox
            self._sweep_soon([partition])
        for flow, key in kids:
            self._hooks.notify(flow, key)

    def _on_fenced(self, lost: Mapping[int, Any]) -> None:
        log.warning("fenced: partitions %s have a newer holder; giving them up", sorted(lost))
        task = asyncio.create_task(self.give_up(list(lost), fenced=True), name="flowd-fenced")
        self._fenced.add(task)
        task.add_done_callback(self._fenced.discard)

    def _sweep_soon(self, partitions: list[int]) -> None:
        if partitions:
            task = asyncio.create_task(self._sweep_once(partitions), name="flowd-sweep")
            self._sweeps.add(task)
            task.add_done_callback(self._sweeps.discard)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            await self._sweep_once(sorted(self._owned))

    async def _sweep_once(self, partitions: list[int]) -> None:
        """Schedule the keys with ready input in `partitions` not known here yet."""
        if not partitions:
            return
        try:
            keys = await self._store.keys_with_ready_inbox(
                self._hooks.now_ms(), partitions=partitions
            )
        except Exception:
            log.warning("could not read the inboxes of partitions %s", partitions, exc_info=True)
            return
        for flow, key in keys:
            if self.owns(key) and not self._hooks.known((flow, key)):
                self._hooks.notify(flow, key)
