"""JSON encoding and SQLite row <-> record conversion for the SQLite store."""

from __future__ import annotations

import json
from typing import Any, cast

import orjson

from .base import (
    DeadLetterRow,
    EffectAttempt,
    EffectCallRow,
    EffectStatus,
    InboxRow,
    InstanceRow,
    IrVersion,
    JournalEntry,
    JsonObject,
    LogRecord,
    OutboxRow,
    SourcePosition,
    StoreGauges,
    TimerRow,
)

Row = tuple[Any, ...]


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def dumps(value: Any) -> str:
    """Compact JSON, by orjson (the standard encoder, slower and holding the
    GIL longer, for what orjson refuses: integers beyond 64 bits, keys that are
    not strings). Raises `TypeError` or `ValueError` for a value that is not JSON.

    orjson writes NaN and infinities as null; they never get this far: input
    parsing, expressions and effect results refuse them where they enter.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _ENCODE(value)


def loads_object(text: str) -> JsonObject:
    """Parse a stored JSON object."""
    return cast(JsonObject, json.loads(text))


def loads_headers(text: str) -> dict[str, str]:
    """Parse stored message headers."""
    return cast(dict[str, str], json.loads(text))


INSTANCE_COLUMNS = "flow, key, ir_hash, seq, state, status, snapshot, updated_ms"


def instance_row(r: Row) -> InstanceRow:
    """Decode `SELECT INSTANCE_COLUMNS`."""
    return InstanceRow(
        flow=r[0],
        key=r[1],
        ir_hash=r[2],
        seq=r[3],
        state=r[4],
        status=r[5],
        snapshot=loads_object(r[6]),
        updated_ms=r[7],
    )


JOURNAL_COLUMNS = "seq, input, trace, at_ms"


def journal_entry(r: Row) -> JournalEntry:
    """Decode `SELECT JOURNAL_COLUMNS`."""
    return JournalEntry(seq=r[0], input=loads_object(r[1]), trace=loads_object(r[2]), at_ms=r[3])


INBOX_COLUMNS = "id, flow, key, input, received_ms, not_before_ms, source"


def inbox_row(r: Row) -> InboxRow:
    """Decode `SELECT INBOX_COLUMNS`."""
    return InboxRow(
        id=r[0],
        flow=r[1],
        key=r[2],
        input=loads_object(r[3]),
        received_ms=r[4],
        not_before_ms=r[5],
        source=r[6],
    )


TIMER_COLUMNS = "flow, key, timer_id, due_ms"


def timer_row(r: Row) -> TimerRow:
    """Decode `SELECT TIMER_COLUMNS`."""
    return TimerRow(flow=r[0], key=r[1], timer_id=r[2], due_ms=r[3])


EFFECT_CALL_COLUMNS = (
    "call_id, flow, key, effect, request, idempotency_key, status, attempts, result, "
    "error, callback_token, next_attempt_ms, created_ms, updated_ms"
)


def effect_call_row(r: Row) -> EffectCallRow:
    """Decode `SELECT EFFECT_CALL_COLUMNS`."""
    return EffectCallRow(
        call_id=r[0],
        flow=r[1],
        key=r[2],
        effect=r[3],
        request=loads_object(r[4]),
        idempotency_key=r[5],
        status=cast(EffectStatus, r[6]),
        attempts=r[7],
        result=None if r[8] is None else loads_object(r[8]),
        error=r[9],
        callback_token=r[10],
        next_attempt_ms=r[11],
        created_ms=r[12],
        updated_ms=r[13],
    )


ATTEMPT_COLUMNS = "call_id, attempt, idempotency_key, started_ms, finished_ms, outcome, error"


def attempt_row(r: Row) -> EffectAttempt:
    """Decode `SELECT ATTEMPT_COLUMNS`."""
    return EffectAttempt(
        call_id=r[0],
        attempt=r[1],
        idempotency_key=r[2],
        started_ms=r[3],
        finished_ms=r[4],
        outcome=r[5],
        error=r[6],
    )


OUTBOX_COLUMNS = "id, topic, key, value, headers, dedup_key, created_ms, sent_ms"


def outbox_row(r: Row) -> OutboxRow:
    """Decode `SELECT OUTBOX_COLUMNS`."""
    return OutboxRow(
        id=r[0],
        topic=r[1],
        key=r[2],
        value=json.loads(r[3]),
        headers=loads_headers(r[4]),
        dedup_key=r[5],
        created_ms=r[6],
        sent_ms=r[7],
    )


LOG_COLUMNS = '"offset", topic, key, value, headers, dedup_key, appended_ms'


def log_record(r: Row) -> LogRecord:
    """Decode `SELECT LOG_COLUMNS`."""
    return LogRecord(
        offset=r[0],
        topic=r[1],
        key=r[2],
        value=json.loads(r[3]),
        headers=loads_headers(r[4]),
        dedup_key=r[5],
        appended_ms=r[6],
    )


DEAD_LETTER_COLUMNS = "id, source, topic, reason, payload, at_ms, record_key"


def dead_letter_row(r: Row) -> DeadLetterRow:
    """Decode `SELECT DEAD_LETTER_COLUMNS`."""
    return DeadLetterRow(
        id=r[0],
        source=r[1],
        topic=r[2],
        reason=r[3],
        payload=r[4],
        at_ms=r[5],
        record_key=None if r[6] is None else bytes(r[6]),
    )


def source_position(r: Row) -> SourcePosition:
    """Decode `SELECT source, position, updated_ms`."""
    return SourcePosition(source=r[0], position=r[1], updated_ms=r[2])


IR_COLUMNS = "hash, flow, version, ir, loaded_ms"


def ir_version(r: Row) -> IrVersion:
    """Decode `SELECT IR_COLUMNS`."""
    return IrVersion(hash=r[0], flow=r[1], version=r[2], ir=loads_object(r[3]), loaded_ms=r[4])


GAUGE_COUNTS = (
    "SELECT (SELECT count(*) FROM inbox), "
    "(SELECT count(*) FROM inbox WHERE not_before_ms IS NULL OR not_before_ms <= {now}), "
    "(SELECT count(*) FROM timers), "
    "(SELECT count(*) FROM timers WHERE due_ms <= {now}), "
    "(SELECT min(due_ms) FROM timers), "
    "(SELECT count(*) FROM outbox WHERE sent_ms IS NULL), "
    "(SELECT count(*) FROM dead_letters)"
)
"""One row of counts for `Store.gauges`; `{now}` is the store's placeholder for now_ms."""

GAUGE_INSTANCES = "SELECT flow, state, status, count(*) FROM instances GROUP BY flow, state, status"
GAUGE_CALLS = "SELECT status, count(*) FROM effect_calls GROUP BY status"


def store_gauges(instances: list[Row], counts: Row, calls: list[Row]) -> StoreGauges:
    """Decode the rows of GAUGE_INSTANCES, GAUGE_COUNTS and GAUGE_CALLS."""
    inbox, ready, timers, due, earliest, outbox, letters = counts
    return StoreGauges(
        instances=tuple((str(f), str(st), str(s), int(n)) for f, st, s, n in instances),
        inbox=int(inbox),
        inbox_ready=int(ready),
        timers=int(timers),
        timers_due=int(due),
        earliest_due_ms=None if earliest is None else int(earliest),
        outbox_pending=int(outbox),
        dead_letters=int(letters),
        effect_calls=tuple((str(status), int(n)) for status, n in calls),
    )
