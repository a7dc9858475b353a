"""How writes and their results cross the pipe to the SQLite writer process.

Each message is a frame: four bytes of length (little-endian), then a tag
byte and the body. Writes go to the writer as

- `I`: one `Store.ingest` call, as orjson of tuples;
- `C`: one `commit_steps` call (its steps), the same way;
- `P`: any other write (a `Call`, or an item and its `Merge`), pickled;
- `S`: no more writes (an empty body).

Ingest and commit calls are nearly every write, and the event loop pays for
encoding them: the records they carry as tuples cost it about 2 µs each
through orjson, against some 8 µs pickled as they are. Only the common shape
goes that way: a call with dead letters, timers fired, effect updates, or
steps with commands other than their journal and snapshot, or a value orjson
refuses (an integer beyond 64 bits), is pickled whole instead.

Results come back pickled: one frame per transaction (see `writer_child`).
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import orjson

from . import sqlite_writes as writes
from .base import InboxItem, InstanceRow, JournalEntry, SourcePosition, StepCommit
from .groupcommit import Job

HEADER = struct.Struct("<I")

INGEST, COMMITS, PICKLED, STOP = b"I", b"C", b"P", b"S"

_item = attrgetter("flow", "key", "input", "received_ms", "not_before_ms", "source", "position")
_instance = attrgetter("flow", "key", "ir_hash", "seq", "state", "status", "snapshot", "updated_ms")
_instance = attrgetter("flow", "key", "ir_hash", "seq", "state", "status", "snapshot", "updated_ms")
_commands = attrgetter(
    "timers_armed",
    "timers_cancelled",
    "outbox",
    "effect_calls",
    "effect_updates",
    "callbacks",
    "inbox",
)


class _UncommonStepError(Exception):
    """A step with commands: the call is pickled instead."""


def frame(tag: bytes, body: bytes) -> bytes:
    """`body` framed with its tag."""
    return HEADER.pack(len(body) + 1) + tag + body


def encode_job(job: Job) -> bytes:
    """`job` as a frame for the writer process; raises what pickling raises
    for a write that cannot cross (a closure, say)."""
    if job.merge is writes.ingest:
        call: writes.IngestCall = job.item
        if not (call.dead_letters or call.effect_updates or call.timers_fired):
            body = _as_json(_ingest_tuple, call)
            if body is not None:
                return frame(INGEST, body)
    elif job.merge is writes.commit_turns:
        body = _as_json(_steps_tuple, job.item)
        if body is not None:
            return frame(COMMITS, body)
    return frame(PICKLED, pickle.dumps((job.write, job.merge, job.item), pickle.HIGHEST_PROTOCOL))


def decode_job(tag: bytes, body: memoryview) -> Job:
    """The write a frame's tag and body carry."""
    if tag == INGEST:
        items, sources, applied = orjson.loads(body)
        inbox = tuple(InboxItem(*item) for item in items)
        call = writes.IngestCall(
            items=inbox,
            sources=tuple(
                SourcePosition(source=source, position=position, updated_ms=updated_ms)
                for source, position, updated_ms in sources
            ),
            dead_letters=(),
            effect_updates=(),
            timers_fired=(),
            applied=tuple(
                None if step is None else _step(step, item.input)
                for step, item in zip(applied, inbox, strict=False)
            ),
        )
        return Job(None, writes.ingest, call)
    if tag == COMMITS:
        return Job(None, writes.commit_turns, tuple(_step(step) for step in orjson.loads(body)))
    if tag == PICKLED:
        write, merge, item = pickle.loads(body)
        return Job(write, merge, item)
    raise ValueError(f"unknown write frame {tag!r}")


def _as_json(shape: Any, value: Any) -> bytes | None:
    try:
        return orjson.dumps(shape(value))
    except (_UncommonStepError, TypeError):
        return None


def _ingest_tuple(call: writes.IngestCall) -> tuple[Any, ...]:
    items = call.items
    return (
        tuple(map(_item, items)),
        tuple((s.source, s.position, s.updated_ms) for s in call.sources),
        tuple(
            None if step is None else _step_tuple(step, item.input)
            for step, item in zip(call.applied, items, strict=False)
        ),
    )


def _steps_tuple(steps: Sequence[StepCommit]) -> tuple[Any, ...]:
    return tuple(_step_tuple(step, None) for step in steps)


def _step_tuple(step: StepCommit, arrived: Any) -> tuple[Any, ...]:
    """`step` as a tuple; its journal's input as None when it is `arrived`
    (a step applied on arrival journals its item's input: it goes once)."""
    if any(_commands(step)):
        raise _UncommonStepError
    row, journal = step.instance, step.journal
    instance = _instance(row)
    if journal is None:
        return (step.flow, step.key, instance, None, step.consumed)
    given = None if journal.input is arrived else journal.input
    return (
        step.flow,
        step.key,
        instance,
        (journal.seq, given, journal.trace, journal.at_ms),
        step.consumed,
    )


def _step(value: list[Any], arrived: Any = None) -> StepCommit:
    flow, key, instance, journal, consumed = value
    if journal is not None:
        journal_seq, given, trace, at_ms = journal
        journal = JournalEntry(journal_seq, arrived if given is None else given, trace, at_ms)
    return StepCommit(
        flow,
        key,
        InstanceRow(*instance),
        journal,
        tuple(consumed),
    )
