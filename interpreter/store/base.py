"""The store contract: what `flowd`'s shell needs from durable storage.

The shell talks to storage only through `Store`. Rows go in and come out as
plain values and JSON objects (dicts), so the store never imports the runtime's
model classes and a PostgreSQL store can implement the same protocol.

Writes are few and coarse: `ingest` (inputs arriving, with their source
positions), `commit` (one step's results), and small bookkeeping writes for the
effect runners and the outbox relay. Each resolves only once the data is
durable. Everything else is a read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from ..immutable import immutable

JsonObject = dict[str, Any]
"""A JSON object as `json.loads` returns it."""

EffectStatus = Literal["pending", "running", "succeeded", "failed", "awaiting_callback"]
"""Lifecycle of one effect call: created `pending`, `running` while an attempt is
in flight, `awaiting_callback` when it completes by callback, then `succeeded` or
`failed` for good."""

EFFECT_STATUSES: tuple[EffectStatus, ...] = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "awaiting_callback",
)


class StoreError(Exception):
    """A write could not be made durable; nothing of it was stored."""


class StoreClosedError(StoreError):
    """The store is closed (or its writer stopped): it takes no more writes."""


class ConflictError(StoreError):
    """A commit contradicts what is stored: its journal `seq` is already taken,
    or an inbox row it claims to consume is gone. Retrying it cannot succeed;
    the shell should reload the instance."""


# --- ingest ------------------------------------------------------------------


@immutable
class InboxItem:
    """An input arriving for one instance, not yet applied.

    `source` / `position` identify where it came from, for deduplication:
    with `position` None the source id is a one-off (`"http:<Idempotency-Key>"`,
    `"signal:<id>"`) and is accepted once; with a position (a Kafka offset, a
    file line) it is accepted only if `position` is past the stored position of
    that source (`"kafka:<topic>:<partition>"`, `"file:<path>"`). Items with no
    source are always accepted. Items of one `ingest` call with the same
    `(source, position)` are one record fanned out to several instances and
    are accepted or skipped together.
    """

    flow: str
    key: str
    input: JsonObject
    received_ms: int
    not_before_ms: int | None = None
    source: str | None = None
    position: int | None = None


@immutable(kw_only=True)
class InboxRow:
    """An inbox item as stored; `id` is the global arrival order."""

    id: int
    flow: str
    key: str
    input: JsonObject
    received_ms: int
    not_before_ms: int | None
    source: str | None


@immutable(kw_only=True)
class SourcePosition:
    """How far one source has been stored (`position` None for one-off ids)."""

    source: str
    position: int | None
    updated_ms: int


@immutable(kw_only=True)
class DeadLetter:
    """An input that could not be accepted (unparseable, no matching flow, ...)."""

    source: str
    topic: str | None
    reason: str
    payload: str
    at_ms: int
    record_key: bytes | None = None
    """The key of the Kafka record it was (None for other input, or no key)."""


def prefix_range(prefix: str) -> tuple[str, str]:
    """`(low, high)`: the strings starting with `prefix` are those with
    `low <= s < high` (compared by code point, as SQLite and `COLLATE "C"` do)."""
    if not prefix:
        raise ValueError("an empty prefix names every source")
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


@immutable(kw_only=True)
class DeadLetterRow:
    """A stored dead letter."""

    id: int
    source: str
    topic: str | None
    reason: str
    payload: str
    at_ms: int
    record_key: bytes | None = None
    """The key of the Kafka record it was (None for other input, or no key)."""

    @property
    def record_key_text(self) -> str | None:
        """`record_key` as text (bytes that are not UTF-8 shown as U+FFFD)."""
        return None if self.record_key is None else self.record_key.decode("utf-8", "replace")


@immutable(kw_only=True)
class IngestResult:
    """What `Store.ingest` did: `inbox_ids[i]` is the new inbox row id of
    `items[i]`, or None when that item was a duplicate and was skipped, or was
    applied on arrival (`applied[i]`; empty when no steps were offered)."""

    inbox_ids: tuple[int | None, ...]
    dead_letter_ids: tuple[int, ...] = ()
    applied: tuple[bool, ...] = ()

    @property
    def accepted(self) -> tuple[int, ...]:
        """The ids of the inbox rows created, in item order."""
        return tuple(i for i in self.inbox_ids if i is not None)

    def was_applied(self, index: int) -> bool:
        """Whether `items[index]` was applied on arrival (its step committed)."""
        return bool(self.applied) and self.applied[index]

    @property
    def duplicates(self) -> int:
        """How many items were skipped as already seen."""
        return sum(
            1 for index, i in enumerate(self.inbox_ids) if i is None and not self.was_applied(index)
        )


# --- instances, journal, timers -------------------------------------------------


@immutable
class InstanceRow:
    """An instance snapshot with the columns the store indexes pulled out of it."""

    flow: str
    key: str
    ir_hash: str
    seq: int
    state: str
    status: str
    snapshot: JsonObject
    updated_ms: int


@immutable
class JournalEntry:
    """Input number `seq` of one instance, with the trace of what it did."""

    seq: int
    input: JsonObject
    trace: JsonObject
    at_ms: int


@immutable(kw_only=True)
class TimerRow:
    """A durable timer of one instance."""

    flow: str
    key: str
    timer_id: str
    due_ms: int


# --- effects -----------------------------------------------------------------


@immutable(kw_only=True)
class NewEffectCall:
    """An effect call a step asks for. `call_id` is deterministic
    (`{flow}/{key}/{seq}/{action_id}`), so the store refuses a second one."""

    call_id: str
    effect: str
    request: JsonObject
    idempotency_key: str
    status: EffectStatus = "pending"
    next_attempt_ms: int | None = None
    callback_token: str | None = None


@immutable(kw_only=True)
class EffectCallUpdate:
    """A change to a stored effect call; fields left None are kept. `at_ms`
    becomes the call's `updated_ms`."""

    call_id: str
    status: EffectStatus
    attempts: int | None = None
    result: JsonObject | None = None
    error: str | None = None
    next_attempt_ms: int | None = None
    at_ms: int | None = None
    only_from: EffectStatus | None = None
    """Change the call only if its status is this one (and leave it silently
    otherwise); when None, the call must exist."""


@immutable(kw_only=True)
class CallbackRegistration:
    """`await_callback`: the call completes when its token is posted back. Creates
    the call (as `effect`) if the step did not, and marks it `awaiting_callback`."""

    call_id: str
    token: str
    effect: str = "callback"


@immutable(kw_only=True)
class EffectCallRow:
    """A stored effect call."""

    call_id: str
    flow: str
    key: str
    effect: str
    request: JsonObject
    idempotency_key: str
    status: EffectStatus
    attempts: int
    result: JsonObject | None
    error: str | None
    callback_token: str | None
    next_attempt_ms: int | None
    created_ms: int
    updated_ms: int


@immutable(kw_only=True)
class EffectAttempt:
    """One attempt of an effect call. Written when it starts (`finished_ms` and
    `outcome` None) and again, same `(call_id, attempt)`, when it ends."""

    call_id: str
    attempt: int
    idempotency_key: str
    started_ms: int
    finished_ms: int | None = None
    outcome: str | None = None
    error: str | None = None


# --- outbox and embedded log --------------------------------------------------------


@immutable(kw_only=True)
class OutboxMessage:
    """An event to produce. `dedup_key` is stable across replays; a second
    message with the same key is dropped."""

    topic: str
    key: str | None
    value: Any
    headers: dict[str, str]
    dedup_key: str


@immutable(kw_only=True)
class OutboxRow:
    """A stored outbox message; `sent_ms` None until relayed."""

    id: int
    topic: str
    key: str | None
    value: Any
    headers: dict[str, str]
    dedup_key: str
    created_ms: int
    sent_ms: int | None


@immutable(kw_only=True)
class LogRecord:
    """A record of the embedded log (the Kafka stand-in); `offset` is global."""

    offset: int
    topic: str
    key: str | None
    value: Any
    headers: dict[str, str]
    dedup_key: str | None
    appended_ms: int


# --- IR --------------------------------------------------------------------


@immutable(kw_only=True)
class IrVersion:
    """A loaded flow IR, kept so running instances keep their IR across restarts."""

    hash: str
    flow: str
    version: str
    ir: JsonObject
    loaded_ms: int


# --- the step commit ------------------------------------------------------------


@immutable
class StepCommit:
    """Everything one step of one instance writes, made durable together.

    `instance` is the new snapshot; `journal` the input applied (None for a
    write that applies no input, e.g. only arming timers on load);
    `consumed` the inbox row ids the step used up (each must still exist);
    `inbox` new inputs for any instance (no source dedup); the rest are the
    step's commands, as rows.
    """

    flow: str
    key: str
    instance: InstanceRow
    journal: JournalEntry | None
    consumed: tuple[int, ...] = ()
    timers_armed: tuple[TimerRow, ...] = ()
    timers_cancelled: tuple[str, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()
    effect_calls: tuple[NewEffectCall, ...] = ()
    effect_updates: tuple[EffectCallUpdate, ...] = ()
    callbacks: tuple[CallbackRegistration, ...] = ()
    inbox: tuple[InboxItem, ...] = ()

    def __post_init__(self) -> None:
        if self.instance.flow != self.flow or self.instance.key != self.key:
            raise ValueError("StepCommit.instance belongs to another (flow, key)")


@immutable(kw_only=True)
class StoreStats:
    """Write counters since open: `transactions` committed, `operations`
    (ingests, commits, ...) carried by them, and the largest batch."""

    transactions: int
    operations: int
    largest_batch: int
    failed_transactions: int


class WriteCounts:
    """A store writer's counters since it started, told as `StoreStats`."""

    __slots__ = ("_failed", "_largest_batch", "_operations", "_transactions")

    def __init__(self) -> None:
        self._transactions = 0
        self._operations = 0
        self._largest_batch = 0
        self._failed = 0

    def record(self, *, committed: bool, size: int) -> None:
        """A transaction of `size` writes committed, or failed and was rolled back."""
        if committed:
            self._transactions += 1
            self._operations += size
            self._largest_batch = max(self._largest_batch, size)
        else:
            self._failed += 1

    def stats(self) -> StoreStats:
        return StoreStats(
            transactions=self._transactions,
            operations=self._operations,
            largest_batch=self._largest_batch,
            failed_transactions=self._failed,
        )


@immutable(kw_only=True)
class StoreGauges:
    """How much is in the store right now, for metrics and dashboards: instance
    counts by `(flow, state, status)`, the inbox (rows, and rows ready at the
    time asked), armed timers (and those due, with the earliest due time),
    outbox rows not relayed, dead letters, and effect calls by status."""

    instances: tuple[tuple[str, str, str, int], ...]
    inbox: int
    inbox_ready: int
    timers: int
    timers_due: int
    earliest_due_ms: int | None
    outbox_pending: int
    dead_letters: int
    effect_calls: tuple[tuple[str, int], ...]


class Store(Protocol):
    """Durable storage for `flowd`. Every write method returns once durable (at
    the configured synchronous level) and raises `StoreError` if nothing was
    written; reads see every write that has returned."""

    @property
    def callback_secret(self) -> bytes:
        """A random secret created on first open, for signing callback tokens."""
        ...

    @property
    def stats(self) -> StoreStats:
        """Write counters, for tests and benchmarks."""
        ...

    async def close(self) -> None:
        """Finish queued writes and close."""
        ...

    # writes

    async def ingest(
        self,
        items: Sequence[InboxItem],
        sources: Sequence[SourcePosition] = (),
        *,
        dead_letters: Sequence[DeadLetter] = (),
        effect_updates: Sequence[EffectCallUpdate] = (),
        timers_fired: Sequence[TimerRow] = (),
        applied: Sequence[StepCommit | None] = (),
    ) -> IngestResult:
        """Append `items` to their instances' inboxes, skipping duplicates by
        source, and advance `sources`, in one transaction. `dead_letters` are
        stored with them; `effect_updates` let an effect result land with the
        call's final status; `timers_fired` are removed (if still due at the
        same time) as their timer inputs arrive.

        `applied` (empty, or one entry per item) offers steps already computed
        for items arriving at idle instances: `applied[i]` applies `items[i]`
        (its `consumed` is empty). Such a step is committed in place of the
        item's inbox row if the item is not a duplicate and every earlier item
        of its instance in this call was applied too; otherwise the item goes
        to the inbox. A step the store refuses (a conflict) sends every item
        to the inbox instead. `IngestResult.applied` tells which were applied."""
        ...

    async def dead_letter(self, letter: DeadLetter) -> int:
        """Store one dead letter; returns its id."""
        ...

    async def refuse_input(self, flow: str, key: str, inbox_id: int, letter: DeadLetter) -> int:
        """Take inbox row `inbox_id` of `flow/key` out as the dead letter `letter`, in
        one transaction; returns the letter's id. Raises `ConflictError` if the row
        is gone."""
        ...

    async def commit(self, commit: StepCommit) -> None:
        """Make one step's results durable. Raises `ConflictError` if the
        journal seq is taken or a consumed inbox row is gone."""
        ...

    async def commit_steps(self, commits: Sequence[StepCommit]) -> None:
        """Make several steps' results durable together, in order (all or none),
        e.g. the steps one instance took through its inbox. Raises like `commit`."""
        ...

    async def record_attempt(
        self, attempt: EffectAttempt, update: EffectCallUpdate | None = None
    ) -> None:
        """Store an effect attempt (insert or finish it) and optionally update
        its call in the same transaction."""
        ...

    async def update_effect_calls(self, updates: Sequence[EffectCallUpdate]) -> None:
        """Change stored effect calls (status, attempts, next attempt time)."""
        ...

    async def mark_outbox_sent(
        self, ids: Sequence[int], *, sent_ms: int, append_to_log: bool
    ) -> list[int]:
        """Mark outbox rows sent; with `append_to_log` also append them to the
        embedded log in the same transaction and return their log offsets.
        Rows already sent are skipped."""
        ...

    async def save_ir(self, ir: IrVersion) -> None:
        """Keep an IR version (a no-op if its hash is stored)."""
        ...

    # reads

    async def load_instance(self, flow: str, key: str) -> InstanceRow | None:
        """The instance snapshot, or None if the key has none yet."""
        ...

    async def load_instances(self, keys: Sequence[tuple[str, str]]) -> list[InstanceRow]:
        """The snapshots of those of `keys` (`(flow, key)` pairs) that have an
        instance, in no particular order; keys without one are left out.

        One read for many keys: the timer service loads the instances whose
        timers fell due a batch at a time (at start-up after downtime, none is
        in memory). Callers pass at most a few thousand keys; an implementation
        may split them into several statements (SQLite binds at most 32,766
        parameters per statement; PostgreSQL can take them as two arrays with
        `unnest`). It must see every write that has returned, like every read.
        """
        ...

    async def instances(
        self,
        flow: str | None = None,
        *,
        state: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        after_key: str | None = None,
    ) -> list[InstanceRow]:
        """Instances matching the filters, ordered by flow and key; with
        `after_key` (and `flow`), only keys after it: the next page."""
        ...

    async def journal(self, flow: str, key: str, *, after_seq: int = -1) -> list[JournalEntry]:
        """The journal of one instance, by seq, from `after_seq + 1`."""
        ...

    async def inbox_for(
        self, flow: str, key: str, now_ms: int | None = None, limit: int | None = None
    ) -> list[InboxRow]:
        """The key's inbox in arrival order; with `now_ms`, only rows whose
        `not_before_ms` has passed."""
        ...

    async def keys_with_ready_inbox(
        self, now_ms: int, limit: int | None = None, *, partitions: Sequence[int] | None = None
    ) -> list[tuple[str, str]]:
        """`(flow, key)` pairs with an inbox row ready at `now_ms`, oldest first.

        `partitions`: only instances of those store partitions. Left out, a
        PostgreSQL store in partitioned mode reads the partitions it holds;
        any other reads every key. SQLite has no partitions: it always reads
        every key, whatever `partitions` says."""
        ...

    async def next_not_before_ms(self, after_ms: int | None = None) -> int | None:
        """The earliest `not_before_ms` in the inbox (later than `after_ms`)."""
        ...

    async def due_timers(
        self, now_ms: int, limit: int | None = None, *, after: TimerRow | None = None
    ) -> list[TimerRow]:
        """Timers due at `now_ms`, earliest first: ordered by `(due_ms, flow,
        key, timer_id)`, and with `after` only those that come after that row
        in this order (a cursor: the timer service reads the next batch while
        the rows of the one before are still being removed)."""
        ...

    async def next_timer_due(self) -> int | None:
        """The earliest timer due time, or None if no timers are armed."""
        ...

    async def timers_for(self, flow: str, key: str) -> list[TimerRow]:
        """One instance's armed timers."""
        ...

    async def effect_call(self, call_id: str) -> EffectCallRow | None:
        """One effect call."""
        ...

    async def effect_calls(
        self,
        status: EffectStatus | Sequence[EffectStatus] | None = None,
        *,
        flow: str | None = None,
        key: str | None = None,
        partitions: Sequence[int] | None = None,
    ) -> list[EffectCallRow]:
        """Effect calls, e.g. those to resume on recovery, by creation order.

        `partitions`: only calls of instances of those store partitions. Left
        out, a PostgreSQL store in partitioned mode asked for a `status` reads
        the partitions it holds; otherwise every call. SQLite has no
        partitions: it ignores `partitions`."""
        ...

    async def call_by_token(self, token: str) -> EffectCallRow | None:
        """The effect call waiting for a callback token."""
        ...

    async def attempts(self, call_id: str) -> list[EffectAttempt]:
        """The attempts of one effect call, in order."""
        ...

    async def pending_outbox(self, limit: int | None = None) -> list[OutboxRow]:
        """Outbox rows not yet sent, oldest first."""
        ...

    async def read_log(
        self, topic: str, after_offset: int = -1, limit: int | None = None
    ) -> list[LogRecord]:
        """Embedded-log records of `topic` after `after_offset`."""
        ...

    async def log_end_offset(self) -> int:
        """The highest offset in the embedded log, -1 when empty."""
        ...

    async def dead_letters(
        self, limit: int | None = None, *, after_id: int = 0
    ) -> list[DeadLetterRow]:
        """Stored dead letters with an id past `after_id`, oldest first."""
        ...

    async def source_position(self, source: str) -> SourcePosition | None:
        """How far a source has been stored, or None if never seen."""
        ...

    async def prune_sources(self, prefix: str, moved_before_ms: int, *, limit: int) -> int:
        """Forget at most `limit` sources whose id starts with `prefix` and whose
        position last moved before `moved_before_ms` (a record from such a
        source is taken again); how many were forgotten."""
        ...

    async def claim_idempotency_key(self, key: str, fingerprint: str, at_ms: int) -> str:
        """Durably bind `key` to `fingerprint` unless it is bound already; returns
        the fingerprint `key` is bound to (the given one, or the first one ever:
        a different one means the key was used for another request)."""
        ...

    async def load_irs(self, flow: str | None = None) -> list[IrVersion]:
        """Stored IR versions, oldest first."""
        ...

    async def gauges(self, now_ms: int) -> StoreGauges:
        """Counts of what the store holds now (see `StoreGauges`), by index
        lookups and aggregates, never by reading every snapshot."""
        ...
