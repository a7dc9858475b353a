"""The SQLite store's writes, as plain functions of a connection.

Each runs on the writer thread inside a transaction the group committer opened
(and a savepoint of its own), so it never begins or commits; raising undoes
everything it did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import cast

from ..immutable import immutable
from . import sqlite_instances, sqlite_journal
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
from .groupcommit import in_savepoint
from .planning import applicable_steps as _applicable
from .planning import commit_names as _names
from .planning import merged_position as _merged
from .planning import starts_instance as _starts
from .sqlite_bulk import chunks, insert_rows, marks
from .sqlite_rows import dumps

# --- ingest ----------------------------------------------------------------


_MISSING = object()


def _advance_source(
    conn: sqlite3.Connection, source: str, position: int | None, at_ms: int
) -> None:
    conn.execute(
        "INSERT INTO sources (source, position, updated_ms) VALUES (?, ?, ?) "
        "ON CONFLICT (source) DO UPDATE SET "
        "position = CASE "
        "  WHEN sources.position IS NULL THEN excluded.position "
        "  WHEN excluded.position IS NULL THEN sources.position "
        "  ELSE max(sources.position, excluded.position) END, "
        "updated_ms = excluded.updated_ms",
        (source, position, at_ms),
    )


def _take(conn: sqlite3.Connection, items: Sequence[InboxItem]) -> list[bool]:
    """Which of `items` their sources have not seen yet; advances those sources.

    Items of one call that share a `(source, position)` are one record routed
    to several instances: they are taken or skipped together.
    """
    seen: dict[str, object] = {}  # source -> its position (None: no position), or _MISSING
    advanced: dict[str, int] = {}  # source -> when its last accepted item arrived
    accepted_here: set[tuple[str, int | None]] = set()
    taken: list[bool] = []
    for item in items:
        source = item.source
        if source is not None and (source, item.position) not in accepted_here:
            if source not in seen:
                row = conn.execute(
                    "SELECT position FROM sources WHERE source = ?", (source,)
                ).fetchone()
                seen[source] = _MISSING if row is None else row[0]
            stored = seen[source]
            if stored is not _MISSING and (
                item.position is None or stored is None or item.position <= cast(int, stored)
            ):
                taken.append(False)
                continue
            accepted_here.add((source, item.position))
            before = None if stored is _MISSING else cast("int | None", stored)
            seen[source] = _merged(before, item.position)
            advanced[source] = item.received_ms
        taken.append(True)
    for source, at_ms in advanced.items():
        _advance_source(conn, source, cast("int | None", seen[source]), at_ms)
    return taken


def _append_inbox(
    conn: sqlite3.Connection, items: Sequence[InboxItem], append: Sequence[bool]
) -> list[int | None]:
    """Insert the `items` flagged in `append`; their new row ids, None for the others."""
    new_ids = iter(
        insert_rows(
            conn,
            "INSERT INTO inbox (flow, key, input, received_ms, not_before_ms, source)",
            [
                (
                    item.flow,
                    item.key,
                    dumps(item.input),
                    item.received_ms,
                    item.not_before_ms,
                    item.source,
                )
                for item, ok in zip(items, append, strict=True)
                if ok
            ],
        )
    )
    return [next(new_ids) if ok else None for ok in append]


def insert_inbox_items(conn: sqlite3.Connection, items: Sequence[InboxItem]) -> list[int | None]:
    """Append `items` to the inbox, skipping those their source has seen."""
    return _append_inbox(conn, items, _take(conn, items))


def insert_dead_letter(conn: sqlite3.Connection, letter: DeadLetter) -> int:
    """Store one dead letter; returns its id."""
    cursor = conn.execute(
        "INSERT INTO dead_letters (source, topic, reason, payload, at_ms, record_key) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            letter.source,
            letter.topic,
            letter.reason,
            letter.payload,
            letter.at_ms,
            letter.record_key,
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def prune_sources(conn: sqlite3.Connection, prefix: str, moved_before_ms: int, limit: int) -> int:
    """See `Store.prune_sources`."""
    low, high = prefix_range(prefix)
    return conn.execute(
        "DELETE FROM sources WHERE rowid IN (SELECT rowid FROM sources "
        "WHERE source >= ? AND source < ? AND updated_ms < ? LIMIT ?)",
        (low, high, moved_before_ms, limit),
    ).rowcount


def claim_idempotency_key(conn: sqlite3.Connection, key: str, fingerprint: str, at_ms: int) -> str:
    """See `Store.claim_idempotency_key`."""
    conn.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, created_ms) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING",
        (key, fingerprint, at_ms),
    )
    row = conn.execute("SELECT fingerprint FROM idempotency_keys WHERE key = ?", (key,)).fetchone()
    return str(row[0])


def refuse_input(
    conn: sqlite3.Connection, flow: str, key: str, inbox_id: int, letter: DeadLetter
) -> int:
    """See `Store.refuse_input`."""
    deleted = conn.execute(
        "DELETE FROM inbox WHERE id = ? AND flow = ? AND key = ?", (inbox_id, flow, key)
    ).rowcount
    if deleted != 1:
        raise ConflictError(f"inbox row {flow}/{key}#{inbox_id} is gone")
    return insert_dead_letter(conn, letter)


@immutable
class IngestCall:
    """The arguments of one `Store.ingest` call, queued for the writer."""

    items: Sequence[InboxItem]
    sources: Sequence[SourcePosition]
    dead_letters: Sequence[DeadLetter]
    effect_updates: Sequence[EffectCallUpdate]
    timers_fired: Sequence[TimerRow]
    applied: Sequence[StepCommit | None]


def ingest(conn: sqlite3.Connection, calls: list[IngestCall]) -> list[IngestResult]:
    """See `Store.ingest`, for several calls at once, as if made one after another,
    with one bulk statement per table.

    A step the store refuses (memory and store disagree about an instance,
    say) is not the records' fault: a lone call then queues every item instead,
    and the keys' turns step them (a conflict there reloads). Several calls
    raise `ConflictError` instead, so that the caller runs them one by one.
    """
    stored = _stored_instances(conn, [c for call in calls for c in call.applied])
    planned: list[tuple[list[bool], list[tuple[int, StepCommit]]]] = []
    for call in calls:
        taken = _take(conn, call.items)
        steps = _applicable(call.items, taken, call.applied, stored)
        # A later call must not start an instance an earlier one started.
        stored.update((c.flow, c.key) for _, c in steps if _starts(c))
        for position in call.sources:
            _advance_source(conn, position.source, position.position, position.updated_ms)
        planned.append((taken, steps))
    commits = [commit for _, steps in planned for _, commit in steps]
    if len(calls) > 1:
        commit_turns(conn, [commits])
    elif commits and not in_savepoint(conn, "applied", lambda: commit_turns(conn, [commits]))[0]:
        planned = [(taken, []) for taken, _ in planned]
    stepped = [{index for index, _ in steps} for _, steps in planned]
    appends = [
        [ok and index not in done for index, ok in enumerate(taken)]
        for (taken, _), done in zip(planned, stepped, strict=True)
    ]
    inbox_ids = iter(
        _append_inbox(
            conn,
            [item for call in calls for item in call.items],
            [flag for flags in appends for flag in flags],
        )
    )
    results: list[IngestResult] = []
    for call, done, flags in zip(calls, stepped, appends, strict=True):
        letter_ids = tuple(insert_dead_letter(conn, letter) for letter in call.dead_letters)
        update_effect_calls(conn, call.effect_updates)
        results.append(
            IngestResult(
                inbox_ids=tuple(next(inbox_ids) for _ in flags),
                dead_letter_ids=letter_ids,
                applied=tuple(i in done for i in range(len(flags))) if call.applied else (),
            )
        )
    _remove_fired(conn, [timer for call in calls for timer in call.timers_fired])
    return results


def _remove_fired(conn: sqlite3.Connection, timers: Sequence[TimerRow]) -> None:
    """Delete the `timers` rows still due when they were read (a timer re-armed
    since has another due time and stays), many per statement."""
    for chunk in chunks(timers):
        # A join, not `(...) IN (VALUES ...)`, as in `_consume`.
        conn.execute(
            "DELETE FROM timers WHERE rowid IN (SELECT t.rowid FROM (VALUES "
            + ", ".join(["(?, ?, ?, ?)"] * len(chunk))
            + ") AS v CROSS JOIN timers AS t ON t.flow = v.column1 AND t.key = v.column2 "
            "AND t.timer_id = v.column3 AND t.due_ms = v.column4)",
            [value for t in chunk for value in (t.flow, t.key, t.timer_id, t.due_ms)],
        )


def _stored_instances(
    conn: sqlite3.Connection, applied: Sequence[StepCommit | None]
) -> set[tuple[str, str]]:
    """Which of the instances that steps in `applied` would start already exist."""
    starting = sorted({(c.flow, c.key) for c in applied if c is not None and _starts(c)})
    return sqlite_instances.existing(conn, starting)


# --- step commit -----------------------------------------------------------------


def commit_turns(conn: sqlite3.Connection, turns: list[Sequence[StepCommit]]) -> list[None]:
    """See `Store.commit_steps`, for several turns at once, with one bulk statement
    per table: each turn's commits in order; of several commits of one instance,
    only the last one's snapshot is written (each replaces the one before).

    Raises `ConflictError` if any journal seq is taken or any consumed inbox
    row is gone; the caller then commits the turns one by one to learn which.
    """
    commits = [c for turn in turns for c in turn]
    heads = sqlite_journal.append(conn, commits)
    _consume(conn, commits)
    for c in commits:
        _write_effects(conn, c)
    sqlite_instances.write(conn, {(c.flow, c.key): c for c in commits}, heads)
    return [None] * len(turns)


def _write_effects(conn: sqlite3.Connection, c: StepCommit) -> None:
    """Everything of `c` beyond its journal entry, consumed rows and snapshot."""
    if c.timers_cancelled:
        conn.executemany(
            "DELETE FROM timers WHERE flow = ? AND key = ? AND timer_id = ?",
            [(c.flow, c.key, timer_id) for timer_id in c.timers_cancelled],
        )
    if c.timers_armed:
        conn.executemany(
            "INSERT INTO timers (flow, key, timer_id, due_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (flow, key, timer_id) DO UPDATE SET due_ms = excluded.due_ms",
            [(t.flow, t.key, t.timer_id, t.due_ms) for t in c.timers_armed],
        )
    at_ms = c.instance.updated_ms
    for message in c.outbox:
        _insert_outbox(conn, message, at_ms)
    for call in c.effect_calls:
        _insert_effect_call(conn, c.flow, c.key, call, at_ms)
    for callback in c.callbacks:
        _register_callback(conn, c.flow, c.key, callback, at_ms)
    if c.effect_updates:
        update_effect_calls(conn, c.effect_updates)
    if c.inbox:
        insert_inbox_items(conn, c.inbox)


def _consume(conn: sqlite3.Connection, commits: Sequence[StepCommit]) -> None:
    rows = list(dict.fromkeys((i, c.flow, c.key) for c in commits for i in c.consumed))
    deleted = 0
    for chunk in chunks(rows):
        # A join, not `(id, flow, key) IN (VALUES ...)`: SQLite scans the table for that.
        deleted += conn.execute(
            "DELETE FROM inbox WHERE id IN (SELECT i.id FROM (VALUES "
            + ", ".join(["(?, ?, ?)"] * len(chunk))
            + ") AS v CROSS JOIN inbox AS i "
            "ON i.id = v.column1 AND i.flow = v.column2 AND i.key = v.column3)",
            list(chain.from_iterable(chunk)),
        ).rowcount
    if deleted != len(rows):
        raise ConflictError(
            f"{len(rows) - deleted} of the inbox rows {_names(commits)} consume "
            "are gone (consumed already, or another key's)"
        )


def _insert_outbox(conn: sqlite3.Connection, message: OutboxMessage, at_ms: int) -> None:
    # A replayed step emits the same dedup key again; the first copy stands.
    conn.execute(
        "INSERT INTO outbox (topic, key, value, headers, dedup_key, created_ms) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING",
        (
            message.topic,
            message.key,
            dumps(message.value),
            dumps(message.headers),
            message.dedup_key,
            at_ms,
        ),
    )


def _insert_effect_call(
    conn: sqlite3.Connection, flow: str, key: str, call: NewEffectCall, at_ms: int
) -> None:
    try:
        conn.execute(
            "INSERT INTO effect_calls (call_id, flow, key, effect, request, idempotency_key, "
            "status, attempts, callback_token, next_attempt_ms, created_ms, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
            (
                call.call_id,
                flow,
                key,
                call.effect,
                dumps(call.request),
                call.idempotency_key,
                call.status,
                call.callback_token,
                call.next_attempt_ms,
                at_ms,
                at_ms,
            ),
        )
    except sqlite3.IntegrityError as error:
        raise ConflictError(f"effect call {call.call_id} is already stored") from error


def _register_callback(
    conn: sqlite3.Connection, flow: str, key: str, callback: CallbackRegistration, at_ms: int
) -> None:
    try:
        conn.execute(
            "INSERT INTO effect_calls (call_id, flow, key, effect, request, idempotency_key, "
            "status, attempts, callback_token, created_ms, updated_ms) "
            "VALUES (?, ?, ?, ?, '{}', ?, 'awaiting_callback', 0, ?, ?, ?) "
            "ON CONFLICT (call_id) DO UPDATE SET callback_token = excluded.callback_token, "
            "status = 'awaiting_callback', updated_ms = excluded.updated_ms",
            (
                callback.call_id,
                flow,
                key,
                callback.effect,
                callback.call_id,
                callback.token,
                at_ms,
                at_ms,
            ),
        )
    except sqlite3.IntegrityError as error:
        raise ConflictError(f"callback token of {callback.call_id} is already in use") from error


# --- effects ------------------------------------------------------------------


def update_effect_calls(conn: sqlite3.Connection, updates: Sequence[EffectCallUpdate]) -> None:
    """See `Store.update_effect_calls`; unknown call ids are a `ConflictError`
    (unless the update is conditional: `only_from`)."""
    for u in updates:
        changed = conn.execute(
            "UPDATE effect_calls SET status = ?, attempts = coalesce(?, attempts), "
            "result = coalesce(?, result), error = coalesce(?, error), "
            "next_attempt_ms = coalesce(?, next_attempt_ms), updated_ms = coalesce(?, updated_ms) "
            "WHERE call_id = ? AND status = coalesce(?, status)",
            (
                u.status,
                u.attempts,
                None if u.result is None else dumps(u.result),
                u.error,
                u.next_attempt_ms,
                u.at_ms,
                u.call_id,
                u.only_from,
            ),
        ).rowcount
        if changed != 1 and u.only_from is None:
            raise ConflictError(f"no effect call {u.call_id} to update")


def record_attempt(
    conn: sqlite3.Connection, attempt: EffectAttempt, update: EffectCallUpdate | None
) -> None:
    """See `Store.record_attempt`."""
    try:
        conn.execute(
            "INSERT INTO effect_attempts (call_id, attempt, idempotency_key, started_ms, "
            "finished_ms, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (call_id, attempt) DO UPDATE SET finished_ms = excluded.finished_ms, "
            "outcome = excluded.outcome, error = excluded.error",
            (
                attempt.call_id,
                attempt.attempt,
                attempt.idempotency_key,
                attempt.started_ms,
                attempt.finished_ms,
                attempt.outcome,
                attempt.error,
            ),
        )
    except sqlite3.IntegrityError as error:
        raise ConflictError(f"no effect call {attempt.call_id} to record an attempt of") from error
    conn.execute(
        "UPDATE effect_calls SET attempts = max(attempts, ?) WHERE call_id = ?",
        (attempt.attempt, attempt.call_id),
    )
    if update is not None:
        update_effect_calls(conn, [update])


# --- outbox, IR ---------------------------------------------------------------------


def mark_outbox_sent(
    conn: sqlite3.Connection, ids: Sequence[int], sent_ms: int, append_to_log: bool
) -> list[int]:
    """See `Store.mark_outbox_sent`."""
    offsets: list[int] = []
    for chunk in chunks(sorted(set(ids))):
        rows = conn.execute(
            "SELECT id, topic, key, value, headers, dedup_key FROM outbox "
            f"WHERE sent_ms IS NULL AND id IN ({marks(len(chunk))}) ORDER BY id",
            tuple(chunk),
        ).fetchall()
        for row_id, topic, key, value, headers, dedup_key in rows:
            conn.execute("UPDATE outbox SET sent_ms = ? WHERE id = ?", (sent_ms, row_id))
            if append_to_log:
                cursor = conn.execute(
                    "INSERT INTO embedded_log (topic, key, value, headers, dedup_key, "
                    "appended_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    (topic, key, value, headers, dedup_key, sent_ms),
                )
                assert cursor.lastrowid is not None
                offsets.append(cursor.lastrowid)
    return offsets


def save_ir(conn: sqlite3.Connection, ir: IrVersion) -> None:
    """See `Store.save_ir`."""
    conn.execute(
        "INSERT INTO ir_versions (hash, flow, version, ir, loaded_ms) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (hash) DO NOTHING",
        (ir.hash, ir.flow, ir.version, dumps(ir.ir), ir.loaded_ms),
    )
