"""The PostgreSQL store's writes, as coroutines of a connection.

Each runs inside a transaction the group committer opened (and a savepoint of
its own), so it never begins or commits; raising undoes everything it did.

Every statement costs a round trip to the server, so the writes take whole
batches at once: rows go in through `unnest` of one array per column (one
statement for any number of rows), and the steps of a merged batch are folded
in memory first where they touch the same rows (a timer armed by one step and
cancelled by the next, say), so each table sees one statement.

Rows that find work (inbox, timers, effect calls, outbox) are written with
their instance's partition (`StorePartitions`, which also refuses steps of
instances a partitioned store does not own and notifies other processes of
inbox rows for partitions it does not hold).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import asyncpg

from ..immutable import immutable
from .base import (
    CallbackRegistration,
    ConflictError,
    DeadLetter,
    EffectAttempt,
    EffectCallUpdate,
    InboxItem,
    IngestResult,
    IrVersion,
    NewEffectCall,
    OutboxMessage,
    SourcePosition,
    StepCommit,
    TimerRow,
    prefix_range,
)
from .planning import applicable_steps, commit_names, merged_position, snapshot_row
from .planning import starts_instance as starts
from .postgres_commit import Connection, in_savepoint
from .postgres_partitions import StorePartitions, notify_inbox
from .sqlite_rows import dumps


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """`rows` turned into one list per column, for `unnest($1::t[], $2::t[], ...)`."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


async def _returned_ids(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Run an `INSERT ... SELECT ... FROM unnest(...) WITH ORDINALITY ... ORDER BY n
    RETURNING id` for `rows`; the new ids in the order of `rows`. Identity values
    are drawn in the order the SELECT produces its rows, so the ids, sorted,
    follow `rows`."""
    if not rows:
        return []
    found = await conn.fetch(sql, *_columns(rows, len(rows[0])))
    return sorted(int(r[0]) for r in found)


# --- ingest ----------------------------------------------------------------

_MISSING = object()


class _Sources:
    """The stored positions of the sources a batch names, locked for the
    transaction, and what the batch does to them (applied at the end in one
    statement)."""

    def __init__(self, stored: dict[str, int | None]) -> None:
        self.seen: dict[str, object] = dict(stored)  # source -> position, or _MISSING
        self.updated: dict[str, int] = {}

    @classmethod
    async def load(cls, conn: Connection, names: set[str]) -> _Sources:
        if not names:
            return cls({})
        wanted = sorted(names)
        # Claim new sources first: a concurrent writer inserting the same one
        # waits for us (or we for it), so the locking read below sees it.
        claimed = await conn.fetch(
            "INSERT INTO sources (source, position, updated_ms) "
            "SELECT s, NULL, 0 FROM unnest($1::text[]) AS s "
            "ON CONFLICT (source) DO NOTHING RETURNING source",
            wanted,
        )
        new = {r[0] for r in claimed}
        if len(new) == len(wanted):
            return cls({})
        rows = await conn.fetch(
            "SELECT source, position FROM sources WHERE source = ANY($1::text[]) "
            "ORDER BY source FOR UPDATE",
            [s for s in wanted if s not in new],
        )
        return cls({r[0]: r[1] for r in rows})

    def take(self, items: Sequence[InboxItem]) -> list[bool]:
        """Which of `items` their sources have not seen yet (one call's items:
        those sharing a `(source, position)` are taken or skipped together)."""
        accepted_here: set[tuple[str, int | None]] = set()
        taken: list[bool] = []
        for item in items:
            source = item.source
            if source is not None and (source, item.position) not in accepted_here:
                stored = self.seen.get(source, _MISSING)
                if stored is not _MISSING and (
                    item.position is None or stored is None or item.position <= stored  # type: ignore[operator]
                ):
                    taken.append(False)
                    continue
                accepted_here.add((source, item.position))
                self.advance(source, item.position, item.received_ms)
            taken.append(True)
        return taken

    def advance(self, source: str, position: int | None, at_ms: int) -> None:
        stored = self.seen.get(source, _MISSING)
        before = None if stored is _MISSING else stored
        self.seen[source] = merged_position(before, position)  # type: ignore[arg-type]
        self.updated[source] = at_ms

    async def store(self, conn: Connection) -> None:
        if not self.updated:
            return
        rows = [(s, self.seen[s], at_ms) for s, at_ms in sorted(self.updated.items())]
        await conn.execute(
            "INSERT INTO sources (source, position, updated_ms) "
            "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) "
            "ON CONFLICT (source) DO UPDATE SET position = excluded.position, "
            "updated_ms = excluded.updated_ms",
            *_columns(rows, 3),
        )


_INSERT_INBOX = (
    "INSERT INTO inbox (flow, key, input, received_ms, not_before_ms, source, partition) "
    "SELECT flow, key, input, received_ms, not_before_ms, source, partition FROM unnest("
    "$1::text[], $2::text[], $3::json[], $4::bigint[], $5::bigint[], $6::text[], "
    "$7::integer[]) WITH ORDINALITY "
    "AS u(flow, key, input, received_ms, not_before_ms, source, partition, n) "
    "ORDER BY n RETURNING id"
)


async def _append_inbox(
    conn: Connection, parts: StorePartitions, items: Sequence[InboxItem], append: Sequence[bool]
) -> list[int | None]:
    """Insert the `items` flagged in `append`; their new row ids, None for the others."""
    appended = [i for i, ok in zip(items, append, strict=True) if ok]
    rows = [
        (i.flow, i.key, dumps(i.input), i.received_ms, i.not_before_ms, i.source, parts.of(i.key))
        for i in appended
    ]
    new_ids = iter(await _returned_ids(conn, _INSERT_INBOX, rows))
    await notify_inbox(conn, parts, ((i.flow, i.key) for i in appended))
    return [next(new_ids) if ok else None for ok in append]


async def _insert_inbox_groups(
    conn: Connection, parts: StorePartitions, groups: Sequence[Sequence[InboxItem]]
) -> None:
    """Append each group's items (one group per step) to the inbox, skipping
    those their source has seen."""
    if not any(groups):
        return
    sources = await _Sources.load(conn, {i.source for g in groups for i in g if i.source})
    taken = [sources.take(group) for group in groups]
    await sources.store(conn)
    await _append_inbox(
        conn, parts, [i for g in groups for i in g], [flag for flags in taken for flag in flags]
    )


async def _insert_dead_letters(conn: Connection, letters: Sequence[DeadLetter]) -> list[int]:
    return await _returned_ids(
        conn,
        "INSERT INTO dead_letters (source, topic, reason, payload, at_ms, record_key) "
        "SELECT source, topic, reason, payload, at_ms, record_key FROM unnest("
        "$1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bytea[]) "
        "WITH ORDINALITY AS u(source, topic, reason, payload, at_ms, record_key, n) "
        "ORDER BY n RETURNING id",
        [(d.source, d.topic, d.reason, d.payload, d.at_ms, d.record_key) for d in letters],
    )


async def insert_dead_letter(conn: Connection, letter: DeadLetter) -> int:
    """Store one dead letter; returns its id."""
    (letter_id,) = await _insert_dead_letters(conn, [letter])
    return letter_id


async def prune_sources(conn: Connection, prefix: str, moved_before_ms: int, limit: int) -> int:
    """See `Store.prune_sources`."""
    low, high = prefix_range(prefix)
    status = await conn.execute(
        "DELETE FROM sources WHERE source IN (SELECT source FROM sources "
        "WHERE source >= $1 AND source < $2 AND updated_ms < $3 LIMIT $4)",
        low,
        high,
        moved_before_ms,
        limit,
    )
    return int(status.split()[-1])


async def claim_idempotency_key(conn: Connection, key: str, fingerprint: str, at_ms: int) -> str:
    """See `Store.claim_idempotency_key`."""
    await conn.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, created_ms) VALUES ($1, $2, $3) "
        "ON CONFLICT (key) DO NOTHING",
        key,
        fingerprint,
        at_ms,
    )
    bound = await conn.fetchval("SELECT fingerprint FROM idempotency_keys WHERE key = $1", key)
    return str(bound)


async def refuse_input(
    conn: Connection, flow: str, key: str, inbox_id: int, letter: DeadLetter
) -> int:
    """See `Store.refuse_input`."""
    deleted = await conn.fetchval(
        "DELETE FROM inbox WHERE id = $1 AND flow = $2 AND key = $3 RETURNING id",
        inbox_id,
        flow,
        key,
    )
    if deleted is None:
        raise ConflictError(f"inbox row {flow}/{key}#{inbox_id} is gone")
    return await insert_dead_letter(conn, letter)


@immutable
class IngestCall:
    """The arguments of one `Store.ingest` call, queued for the writer."""

    items: Sequence[InboxItem]
    sources: Sequence[SourcePosition]
    dead_letters: Sequence[DeadLetter]
    effect_updates: Sequence[EffectCallUpdate]
    timers_fired: Sequence[TimerRow]
    applied: Sequence[StepCommit | None]


async def ingest(
    conn: Connection, calls: list[IngestCall], *, parts: StorePartitions
) -> list[IngestResult]:
    """See `Store.ingest`, for several calls at once, as if made one after another
    (the rules are SQLite's: `sqlite_writes.ingest`), with one statement per table.
    A step offered for an instance this store does not own, or (partitioned)
    for one with input already in its inbox, is not applied: its item goes to
    the inbox.
    """
    calls = [_owned_steps_only(call, parts) for call in calls]
    calls = await _steps_behind_stored_input(conn, calls, parts)
    stored = await _stored_instances(conn, [c for call in calls for c in call.applied])
    sources = await _Sources.load(
        conn,
        {i.source for call in calls for i in call.items if i.source is not None}
        | {p.source for call in calls for p in call.sources},
    )
    planned: list[tuple[list[bool], list[tuple[int, StepCommit]]]] = []
    for call in calls:
        taken = sources.take(call.items)
        steps = applicable_steps(call.items, taken, call.applied, stored)
        # A later call must not start an instance an earlier one started.
        stored.update((c.flow, c.key) for _, c in steps if starts(c))
        for position in call.sources:
            sources.advance(position.source, position.position, position.updated_ms)
        planned.append((taken, steps))
    await sources.store(conn)
    commits = [commit for _, steps in planned for _, commit in steps]
    if len(calls) > 1:
        await commit_turns(conn, [commits], parts=parts)
    elif commits:
        ok, _ = await in_savepoint(
            conn, "applied", lambda: commit_turns(conn, [commits], parts=parts)
        )
        if not ok:
            planned = [(taken, []) for taken, _ in planned]
    stepped = [{index for index, _ in steps} for _, steps in planned]
    appends = [
        [ok and index not in done for index, ok in enumerate(taken)]
        for (taken, _), done in zip(planned, stepped, strict=True)
    ]
    inbox_ids = iter(
        await _append_inbox(
            conn,
            parts,
            [item for call in calls for item in call.items],
            [flag for flags in appends for flag in flags],
        )
    )
    letter_ids = iter(
        await _insert_dead_letters(conn, [d for call in calls for d in call.dead_letters])
    )
    await update_effect_calls(conn, [u for call in calls for u in call.effect_updates])
    fired = [(t.flow, t.key, t.timer_id, t.due_ms) for call in calls for t in call.timers_fired]
    if fired:
        await conn.execute(
            "DELETE FROM timers AS t USING unnest($1::text[], $2::text[], $3::text[], "
            "$4::bigint[]) AS f(flow, key, timer_id, due_ms) WHERE t.flow = f.flow "
            "AND t.key = f.key AND t.timer_id = f.timer_id AND t.due_ms = f.due_ms",
            *_columns(fired, 4),
        )
    return [
        IngestResult(
            inbox_ids=tuple(next(inbox_ids) for _ in flags),
            dead_letter_ids=tuple(next(letter_ids) for _ in call.dead_letters),
            applied=tuple(i in done for i in range(len(flags))) if call.applied else (),
        )
        for call, done, flags in zip(calls, stepped, appends, strict=True)
    ]


def _owned_steps_only(call: IngestCall, parts: StorePartitions) -> IngestCall:
    if not parts.partitioned or all(c is None or parts.owns(c.key) for c in call.applied):
        return call
    owned = tuple(c if c is None or parts.owns(c.key) else None for c in call.applied)
    return dataclasses.replace(call, applied=owned)


async def _steps_behind_stored_input(
    conn: Connection, calls: list[IngestCall], parts: StorePartitions
) -> list[IngestCall]:
    """Partitioned, another process may have stored input for an instance this
    one steps on arrival, and not yet said so (its notice is on its way): a step
    offered for an instance with input in its inbox would overtake that input,
    so it is not applied and its item queues behind (the key's next turn reads
    the inbox). Alone, the runtime's memory of the inbox is the whole truth."""
    if not parts.partitioned:
        return calls
    kids = sorted({(c.flow, c.key) for call in calls for c in call.applied if c is not None})
    if not kids:
        return calls
    rows = await conn.fetch(
        "SELECT DISTINCT w.flow, w.key FROM unnest($1::text[], $2::text[], $3::integer[]) "
        "AS w(flow, key, partition) WHERE EXISTS (SELECT 1 FROM inbox AS i WHERE "
        "i.partition = w.partition AND i.flow = w.flow AND i.key = w.key)",
        [f for f, _ in kids],
        [k for _, k in kids],
        [parts.of(k) for _, k in kids],
    )
    waiting = {(r[0], r[1]) for r in rows}
    if not waiting:
        return calls
    return [
        dataclasses.replace(
            call,
            applied=tuple(
                None if c is not None and (c.flow, c.key) in waiting else c for c in call.applied
            ),
        )
        for call in calls
    ]


async def _stored_instances(
    conn: Connection, applied: Sequence[StepCommit | None]
) -> set[tuple[str, str]]:
    """Which of the instances that steps in `applied` would start already exist."""
    starting = sorted({(c.flow, c.key) for c in applied if c is not None and starts(c)})
    if not starting:
        return set()
    found = await conn.fetch(
        "SELECT i.flow, i.key FROM unnest($1::text[], $2::text[]) AS w(flow, key) "
        "JOIN instances AS i ON i.flow = w.flow AND i.key = w.key",
        *_columns(starting, 2),
    )
    return {(r[0], r[1]) for r in found}


# --- step commit -----------------------------------------------------------------

_JOURNAL_KEY = "journal_pkey"
_TOKEN_KEY = "effect_calls_callback_token_key"


async def commit_turns(
    conn: Connection, turns: list[Sequence[StepCommit]], *, parts: StorePartitions
) -> list[None]:
    """See `Store.commit_steps`, for several turns at once, with one statement
    per table: each turn's commits in order; of several commits of one instance,
    only the last one's snapshot is written.

    Raises `ConflictError` if any journal seq is taken or any consumed inbox
    row is gone, `PartitionNotHeldError` if a partitioned store does not own an
    instance; the caller then commits the turns one by one to learn which.
    """
    commits = [c for turn in turns for c in turn]
    parts.check_owned(commits)
    journal = [
        (c.flow, c.key, j.seq, dumps(j.input), dumps(j.trace), j.at_ms)
        for c in commits
        if (j := c.journal) is not None
    ]
    if journal:
        try:
            await conn.execute(
                "INSERT INTO journal (flow, key, seq, input, trace, at_ms) SELECT * FROM unnest("
                "$1::text[], $2::text[], $3::bigint[], $4::json[], $5::json[], $6::bigint[])",
                *_columns(journal, 6),
            )
        except asyncpg.UniqueViolationError as error:
            taken = f"a journal entry of {commit_names(commits)} is already stored"
            raise ConflictError(taken) from error
    await _consume(conn, commits)
    await _write_effects(conn, parts, commits)
    last = {(c.flow, c.key): c for c in commits}
    snapshots = [snapshot_row(c) for c in last.values()]
    if snapshots:
        await conn.execute(
            "INSERT INTO instances (flow, key, ir_hash, seq, state, status, snapshot, "
            "updated_ms) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::bigint[], $5::text[], $6::text[], $7::json[], $8::bigint[]) "
            "ON CONFLICT (flow, key) DO UPDATE SET ir_hash = excluded.ir_hash, "
            "seq = excluded.seq, state = excluded.state, status = excluded.status, "
            "snapshot = excluded.snapshot, updated_ms = excluded.updated_ms",
            *_columns(snapshots, 8),
        )
    return [None] * len(turns)


async def _consume(conn: Connection, commits: Sequence[StepCommit]) -> None:
    rows = list(dict.fromkeys((i, c.flow, c.key) for c in commits for i in c.consumed))
    if not rows:
        return
    status = await conn.execute(
        "DELETE FROM inbox AS i USING unnest($1::bigint[], $2::text[], $3::text[]) "
        "AS v(id, flow, key) WHERE i.id = v.id AND i.flow = v.flow AND i.key = v.key",
        *_columns(rows, 3),
    )
    deleted = int(status.split()[-1])
    if deleted != len(rows):
        raise ConflictError(
            f"{len(rows) - deleted} of the inbox rows {commit_names(commits)} consume "
            "are gone (consumed already, or another key's)"
        )


async def _write_effects(
    conn: Connection, parts: StorePartitions, commits: Sequence[StepCommit]
) -> None:
    """Everything of `commits` beyond journal entries, consumed rows and snapshots,
    one statement per table for them all."""
    await _write_timers(conn, parts, commits)
    outbox = [(m, c.instance.updated_ms, parts.of(c.key)) for c in commits for m in c.outbox]
    if outbox:
        await _insert_outbox(conn, outbox)
    calls = [
        (c.flow, c.key, call, c.instance.updated_ms) for c in commits for call in c.effect_calls
    ]
    if calls:
        await _insert_effect_calls(conn, parts, calls)
    callbacks = [(c.flow, c.key, cb, c.instance.updated_ms) for c in commits for cb in c.callbacks]
    if callbacks:
        await _register_callbacks(conn, parts, callbacks)
    await update_effect_calls(conn, [u for c in commits for u in c.effect_updates])
    await _insert_inbox_groups(conn, parts, [c.inbox for c in commits if c.inbox])


async def _write_timers(
    conn: Connection, parts: StorePartitions, commits: Sequence[StepCommit]
) -> None:
    """Timers cancelled and armed, in the commits' order, folded into one delete
    and one upsert."""
    final: dict[tuple[str, str, str], int | None] = {}  # None: cancelled
    for c in commits:
        for timer_id in c.timers_cancelled:
            final[(c.flow, c.key, timer_id)] = None
        for t in c.timers_armed:
            final[(t.flow, t.key, t.timer_id)] = t.due_ms
    cancelled = [kid for kid, due in final.items() if due is None]
    armed = [
        (flow, key, timer_id, due, parts.of(key))
        for (flow, key, timer_id), due in final.items()
        if due is not None
    ]
    if cancelled:
        await conn.execute(
            "DELETE FROM timers AS t USING unnest($1::text[], $2::text[], $3::text[]) "
            "AS c(flow, key, timer_id) WHERE t.flow = c.flow AND t.key = c.key "
            "AND t.timer_id = c.timer_id",
            *_columns(cancelled, 3),
        )
    if armed:
        await conn.execute(
            "INSERT INTO timers (flow, key, timer_id, due_ms, partition) SELECT * FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::bigint[], $5::integer[]) "
            "ON CONFLICT (flow, key, timer_id) DO UPDATE SET due_ms = excluded.due_ms",
            *_columns(armed, 5),
        )


async def _insert_outbox(
    conn: Connection, messages: Sequence[tuple[OutboxMessage, int, int]]
) -> None:
    """`messages` with the time they were emitted and their instance's partition."""
    # A replayed step emits the same dedup key again; the first copy stands.
    rows = [
        (m.topic, m.key, dumps(m.value), dumps(m.headers), m.dedup_key, at_ms, partition)
        for m, at_ms, partition in messages
    ]
    await conn.execute(
        "INSERT INTO outbox (topic, key, value, headers, dedup_key, created_ms, partition) "
        "SELECT topic, key, value, headers, dedup_key, created_ms, partition FROM unnest("
        "$1::text[], $2::text[], $3::json[], $4::json[], $5::text[], $6::bigint[], "
        "$7::integer[]) WITH ORDINALITY "
        "AS u(topic, key, value, headers, dedup_key, created_ms, partition, n) "
        "ORDER BY n ON CONFLICT (dedup_key) DO NOTHING",
        *_columns(rows, 7),
    )


async def _insert_effect_calls(
    conn: Connection, parts: StorePartitions, calls: Sequence[tuple[str, str, NewEffectCall, int]]
) -> None:
    rows = [
        (call.call_id, flow, key, call.effect, dumps(call.request), call.idempotency_key,
         call.status, call.callback_token, call.next_attempt_ms, at_ms, parts.of(key))
        for flow, key, call, at_ms in calls
    ]  # fmt: skip
    try:
        await conn.execute(
            "INSERT INTO effect_calls (call_id, flow, key, effect, request, idempotency_key, "
            "status, attempts, callback_token, next_attempt_ms, created_ms, updated_ms, "
            "partition) SELECT call_id, flow, key, effect, request, idempotency_key, status, 0, "
            "callback_token, next_attempt_ms, at_ms, at_ms, partition FROM unnest($1::text[], "
            "$2::text[], $3::text[], $4::text[], $5::json[], $6::text[], $7::text[], $8::text[], "
            "$9::bigint[], $10::bigint[], $11::integer[]) WITH ORDINALITY AS u(call_id, flow, "
            "key, effect, request, idempotency_key, status, callback_token, next_attempt_ms, "
            "at_ms, partition, n) ORDER BY n",
            *_columns(rows, 11),
        )
    except asyncpg.UniqueViolationError as error:
        ids = ", ".join(call.call_id for _, _, call, _ in calls[:5])
        raise ConflictError(f"effect call {ids} is already stored") from error


async def _register_callbacks(
    conn: Connection,
    parts: StorePartitions,
    callbacks: Sequence[tuple[str, str, CallbackRegistration, int]],
) -> None:
    for flow, key, callback, at_ms in callbacks:
        # One statement per registration: a later one may re-register the same
        # call, which one upsert of both rows could not do.
        try:
            await conn.execute(
                "INSERT INTO effect_calls (call_id, flow, key, effect, request, "
                "idempotency_key, status, attempts, callback_token, created_ms, updated_ms, "
                "partition) "
                "VALUES ($1, $2, $3, $4, '{}', $1, 'awaiting_callback', 0, $5, $6, $6, $7) "
                "ON CONFLICT (call_id) DO UPDATE SET callback_token = excluded.callback_token, "
                "status = 'awaiting_callback', updated_ms = excluded.updated_ms",
                callback.call_id,
                flow,
                key,
                callback.effect,
                callback.token,
                at_ms,
                parts.of(key),
            )
        except asyncpg.UniqueViolationError as error:
            raise ConflictError(
                f"callback token of {callback.call_id} is already in use"
            ) from error


# --- effects ------------------------------------------------------------------

_UPDATE_CALL = (
    "UPDATE effect_calls SET status = $1, attempts = coalesce($2, attempts), "
    "result = coalesce($3::json, result), error = coalesce($4, error), "
    "next_attempt_ms = coalesce($5, next_attempt_ms), updated_ms = coalesce($6, updated_ms) "
    "WHERE call_id = $7 AND status = coalesce($8, status) RETURNING 1"
)


async def update_effect_calls(conn: Connection, updates: Sequence[EffectCallUpdate]) -> None:
    """See `Store.update_effect_calls`; unknown call ids are a `ConflictError`
    (unless the update is conditional: `only_from`)."""
    for u in updates:
        changed = await conn.fetchval(
            _UPDATE_CALL,
            u.status,
            u.attempts,
            None if u.result is None else dumps(u.result),
            u.error,
            u.next_attempt_ms,
            u.at_ms,
            u.call_id,
            u.only_from,
        )
        if changed is None and u.only_from is None:
            raise ConflictError(f"no effect call {u.call_id} to update")


async def record_attempt(
    conn: Connection, attempt: EffectAttempt, update: EffectCallUpdate | None
) -> None:
    """See `Store.record_attempt`."""
    try:
        await conn.execute(
            "INSERT INTO effect_attempts (call_id, attempt, idempotency_key, started_ms, "
            "finished_ms, outcome, error) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (call_id, attempt) DO UPDATE SET finished_ms = excluded.finished_ms, "
            "outcome = excluded.outcome, error = excluded.error",
            attempt.call_id,
            attempt.attempt,
            attempt.idempotency_key,
            attempt.started_ms,
            attempt.finished_ms,
            attempt.outcome,
            attempt.error,
        )
    except asyncpg.ForeignKeyViolationError as error:
        raise ConflictError(f"no effect call {attempt.call_id} to record an attempt of") from error
    await conn.execute(
        "UPDATE effect_calls SET attempts = greatest(attempts, $1) WHERE call_id = $2",
        attempt.attempt,
        attempt.call_id,
    )
    if update is not None:
        await update_effect_calls(conn, [update])


# --- outbox, IR ---------------------------------------------------------------------


async def mark_outbox_sent(
    conn: Connection, ids: Sequence[int], sent_ms: int, append_to_log: bool
) -> list[int]:
    """See `Store.mark_outbox_sent`."""
    wanted = sorted(set(ids))
    if not append_to_log:
        await conn.execute(
            "UPDATE outbox SET sent_ms = $2 WHERE id = ANY($1::bigint[]) AND sent_ms IS NULL",
            wanted,
            sent_ms,
        )
        return []
    found = await conn.fetch(
        "WITH sent AS (UPDATE outbox SET sent_ms = $2 WHERE id = ANY($1::bigint[]) "
        "AND sent_ms IS NULL RETURNING id, topic, key, value, headers, dedup_key) "
        "INSERT INTO embedded_log (topic, key, value, headers, dedup_key, appended_ms) "
        'SELECT topic, key, value, headers, dedup_key, $2 FROM sent ORDER BY id RETURNING "offset"',
        wanted,
        sent_ms,
    )
    return sorted(int(r[0]) for r in found)


async def save_ir(conn: Connection, ir: IrVersion) -> None:
    """See `Store.save_ir`."""
    await conn.execute(
        "INSERT INTO ir_versions (hash, flow, version, ir, loaded_ms) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (hash) DO NOTHING",
        ir.hash,
        ir.flow,
        ir.version,
        dumps(ir.ir),
        ir.loaded_ms,
    )
