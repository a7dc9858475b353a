"""Turning raw records on a topic into inbox items: matching, keys, schemas.

A record on a topic becomes an event of every flow that reads the topic and
has an event whose `match` (payload paths) and `match_headers` hold; the first
such event in the flow's declaration order wins. Its key expression gives the
instance key and its JSON Schema checks the payload. When no event of a flow
matches, a signal of that flow declared with this `topic` and a `key` takes
the record instead (signals delivered by Kafka). A record no flow can take (an
unknown topic, a payload that is not JSON, a key that is missing, a schema
violation) becomes a dead letter with the reason, stored in the same
transaction as the accepted items. A record on a topic that flows read but
that no event matches is `ignored`: topics carry many kinds of events.

Deduplication is per flow: the inbox item of flow F carries the source id
`"<record source>@F"`, so one record fanning out to several flows is accepted
once by each of them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from functools import partial
from typing import Any, Literal

from .. import jsontext
from ..expr import Compiled, ExprError
from ..immutable import immutable
from ..model import EventInput, Input, SignalInput
from ..program import Program
from ..sourceids import source_id
from ..store import (
    DeadLetter,
    InboxItem,
    InboxRow,
    IngestResult,
    SourcePosition,
    StepCommit,
    Store,
)


@immutable
class IncomingRecord:
    """One record arriving on a topic (from Kafka, HTTP, a file or the embedded log).

    `value` is the payload: `bytes` are JSON text to parse (from Kafka, say);
    anything else is JSON already parsed (a `str` is a JSON string).
    `source` and `position` make redelivery harmless: with a position (an
    offset, a line number) a record is taken only once past the stored
    position of `source`; without one, `source` itself (e.g.
    `"http:<Idempotency-Key>"`) is taken once. `origin` names where a record
    without a source came from (`"http"`, `"topic"`), for its dead letter.
    `partition` and `offset` say where on a partitioned log (Kafka) it was read;
    a dead letter of such a record names it `kafka:<topic>:<partition>@<offset>`
    and keeps `raw_key`, the record's key as read (`record_key` is its text).
    A record with a `problem` (found where it was read: too large, say) is a
    dead letter for that reason.
    """

    value: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    record_key: str | None = None
    source: str | None = None
    position: int | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None
    origin: str = "topic"
    problem: str | None = None
    raw_key: bytes | None = None

    def dead_letter_source(self, topic: str) -> str:
        """The source a dead letter of this record is stored and shown with."""
        if self.partition is not None and self.offset is not None:
            # Where on a partitioned log (Kafka) it was read, whatever its dedup source.
            return f"kafka:{topic}:{self.partition}@{self.offset}"
        return self.source or f"{self.origin}:{topic}"


def signal_source(flow: str, key: str, signal_id: str | None) -> str:
    """The source id of a signal (one with an id is accepted once), as its
    inbox item and any dead letter of it carry it."""
    if signal_id is None:
        return source_id("signal", flow, key)
    return source_id("signal", flow, key, signal_id)


IngestStatus = Literal["accepted", "duplicate", "dead_lettered", "ignored"]


@immutable
class Delivery:
    """One flow instance a record was accepted for."""

    flow: str
    key: str
    event: str
    inbox_id: int | None
    """The new inbox row, or None when this flow had already taken the record
    or applied it on arrival (`applied`)."""
    applied: bool = False
    """Whether the record was applied as it arrived, its step committed with it."""
    not_before_ms: int | None = None
    """For a delayed event: when it may be applied."""


@immutable
class IngestOutcome:
    """What became of one record.

    `accepted` when at least one flow took it for the first time, `duplicate`
    when it had been taken (or dead-lettered) before, `dead_lettered` when no
    flow could take it, `ignored` when no event matches it; `reasons` holds
    every dead letter written for it (a record can be accepted by one flow and
    dead-lettered by another).
    """

    status: IngestStatus
    deliveries: tuple[Delivery, ...] = ()
    reasons: tuple[str, ...] = ()


@immutable
class IngestSummary:
    """What became of a batch of records, for a caller that needs no outcome per
    record (a Kafka consumer): the deliveries whose inbox rows were stored and
    not applied on arrival, and each dead letter's record (its index in the
    batch) and reason. As `IngestOutcome`s would tell, without building one
    per record."""

    queued: list[Delivery]
    reasons: list[tuple[int, str]]


def summarize(outcomes: Sequence[IngestOutcome]) -> IngestSummary:
    """The summary of a batch whose outcomes were made one by one."""
    queued = [
        d
        for outcome in outcomes
        for d in outcome.deliveries
        if d.inbox_id is not None and not d.applied
    ]
    reasons = [(index, reason) for index, o in enumerate(outcomes) for reason in o.reasons]
    return IngestSummary(queued, reasons)


class EventRouter:
    """Knows which flows read which topics, by the newest program of each flow."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = dict(env or {})
        self._programs: list[Program] = []
        self._topics: frozenset[str] = frozenset()
        self._event_routes: dict[tuple[str, str], _Route] = {}
        self._signal_routes: dict[tuple[str, str], _Route] = {}

    @property
    def topics(self) -> frozenset[str]:
        """Every topic some loaded flow reads."""
        return self._topics

    def set_programs(self, programs: Sequence[Program]) -> None:
        """Route with these programs (one per flow: its newest version)."""
        self._programs = sorted(programs, key=lambda p: p.flow)
        self._topics = frozenset(
            [e.topic for p in programs for e in p.events.values()]
            + [s.topic for p in programs for s in p.signals.values() if s.topic and s.key]
        )
        self._event_routes = {
            (p.flow, e.name): (
                e.name,
                e.key,
                e.delay_ms,
                p.event_checker(e.name),
                partial(EventInput, e.name),
            )
            for p in programs
            for e in p.events.values()
        }
        self._signal_routes = {}
        for p in programs:
            for signal in p.signals.values():
                if signal.topic and signal.key is not None:
                    self._signal_routes.setdefault(
                        (p.flow, signal.topic),
                        (
                            signal.name,
                            signal.key,
                            0,
                            p.signal_checker(signal.name),
                            partial(_signal_input, signal.name),
                        ),
                    )

    def route(
        self, topic: str, record: IncomingRecord, now_ms: int
    ) -> tuple[list[Routed], list[DeadLetter]]:
        """The inbox items (one per accepting flow, with the event's name) and the
        dead letters for one record."""
        if record.problem is not None:
            return [], [_letter(topic, record.problem, record, now_ms)]
        payload, problem = _parse(record.value)
        if problem is not None:
            return [], [_letter(topic, problem, record, now_ms)]
        if topic not in self._topics:
            reason = f"no flow reads topic {topic!r}"
            return [], [_letter(topic, reason, record, now_ms)]
        meta = _meta(topic, record)
        taken: list[Routed] = []
        letters: list[DeadLetter] = _NO_LETTERS
        source = record.source
        for program in self._programs:
            route = self._match(program, topic, payload, record.headers)
            if route is None:
                continue
            name, key_expr, delay_ms, violations_of, make_input = route
            key, problem = self._key(key_expr, payload, meta)
            if problem is None:
                violations = violations_of(payload)
                if violations:
                    problem = "schema violation: " + "; ".join(violations)
            if problem is not None or key is None:
                if letters is _NO_LETTERS:
                    letters = []
                letters.append(_letter(topic, f"{program.flow}.{name}: {problem}", record, now_ms))
                continue
            inp = make_input(payload, meta, now_ms)
            item = InboxItem(
                program.flow,
                key,
                inp.to_json(),
                now_ms,  # received_ms
                now_ms + delay_ms if delay_ms > 0 else None,  # not_before_ms
                f"{source}@{program.flow}" if source else None,
                record.position,
            )
            taken.append((item, name, inp))
        return taken, letters

    def _match(
        self, program: Program, topic: str, payload: Any, headers: Mapping[str, str]
    ) -> _Route | None:
        """The first event of `program` the record is; else its first signal read
        from `topic` (a signal declared with `topic` and `key`)."""
        name = program.event_for(topic, payload, headers)
        if name is not None:
            return self._event_routes[program.flow, name]
        return self._signal_routes.get((program.flow, topic))

    def _key(
        self, key: Compiled, payload: Any, meta: Mapping[str, Any]
    ) -> tuple[str | None, str | None]:
        scope = {"event": payload, "meta": meta, "env": self._env}
        try:
            value = key(scope)
        except ExprError as exc:
            return None, f"no key: {exc}"
        if isinstance(value, bool) or not isinstance(value, _KEY_TYPES):
            return None, f"no key: the key expression gave {json.dumps(value, default=str)}"
        text = value if isinstance(value, str) else str(value)
        if not text:
            return None, "no key: the key expression gave an empty string"
        return text, None


ROUTED_BETWEEN_YIELDS = 500
"""Records routed before `ingest_records` lets the event loop run other tasks
(routing a large batch from Kafka at once would hold it for tens of ms)."""

_NO_LETTERS: list[DeadLetter] = []
"""What `route` gives for a record with no dead letter (shared: never appended to)."""

# For `isinstance` on hot paths: an inline `A | B` builds a union on every call.
_KEY_TYPES = (str, int)
_BYTES = (bytes, bytearray)

Routed = tuple[InboxItem, str, EventInput | SignalInput]
"""An inbox item, the name of the event (or signal) it is, and its input."""

_Route = tuple[
    str,
    Compiled,
    int,
    Callable[[Any], list[str]],
    Callable[[Any, dict[str, Any], int], EventInput | SignalInput],
]
"""How one flow takes a record: name, key expression, delay, schema check, input maker."""


def _signal_input(name: str, payload: Any, meta: dict[str, Any], at_ms: int) -> SignalInput:
    return SignalInput(name, payload, at_ms)


def _parse(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, _BYTES):
        return value, None
    try:
        return jsontext.loads(bytes(value).decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "the payload is not UTF-8"
    except ValueError as exc:
        return None, f"the payload is not JSON: {exc}"


def _meta(topic: str, record: IncomingRecord) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "headers": dict(record.headers) if record.headers else {},  # most have none
        "key": record.record_key,
    }


def _letter(topic: str, reason: str, record: IncomingRecord, now_ms: int) -> DeadLetter:
    value = record.value
    if isinstance(value, _BYTES):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = json.dumps(value, default=str)
    return DeadLetter(
        source=record.dead_letter_source(topic),
        topic=topic,
        reason=reason,
        payload=text,
        at_ms=now_ms,
        record_key=record.raw_key,
    )


@immutable
class Ingested:
    """What `ingest_records` did: one outcome per record, the inbox rows it
    stored, and which of its items (in routing order) were applied on arrival."""

    outcomes: list[IngestOutcome]
    """Empty when `ingest_records` was asked for a summary only."""
    rows: list[InboxRow]
    applied: tuple[bool, ...] = ()
    summary: IngestSummary | None = None
    """When asked for instead of the outcomes."""


ArrivalPlanner = Callable[[Sequence[InboxItem], Sequence[Input]], Sequence[StepCommit | None]]
"""Given the items about to be stored and their inputs, the steps to commit in
their place (one entry per item, None for those to queue); see `Store.ingest`."""


def stored_rows(items: Sequence[InboxItem], ids: Sequence[int | None]) -> list[InboxRow]:
    """The inbox rows of the `items` an ingest accepted (`ids` from its result)."""
    if ids.count(None) == len(ids):  # all applied on arrival (or taken before)
        return []
    return [
        InboxRow(
            id=row_id,
            flow=item.flow,
            key=item.key,
            input=item.input,
            received_ms=item.received_ms,
            not_before_ms=item.not_before_ms,
            source=item.source,
        )
        for item, row_id in zip(items, ids, strict=True)
        if row_id is not None
    ]


async def ingest_records(
    store: Store,
    *,
    router: EventRouter,
    topic: str,
    records: Sequence[IncomingRecord],
    now_ms: int,
    advance: Sequence[SourcePosition] = (),
    on_arrival: ArrivalPlanner | None = None,
    summary_only: bool = False,
) -> Ingested:
    """Route `records` and store the result in one transaction; per-record outcomes
    (with `summary_only`, an `IngestSummary` instead).

    `advance` moves further source positions in the same transaction (a
    consumer's own position, say). `on_arrival`, called just before the
    store write, may offer steps that apply items as they arrive.
    """
    all_items: list[InboxItem] = []
    all_inputs: list[Input] = []
    per_record: list[tuple[list[Routed], list[DeadLetter]]] = []
    with_letters: list[int] = []
    for index, record in enumerate(records):
        if index and index % ROUTED_BETWEEN_YIELDS == 0:
            await asyncio.sleep(0)
        routed_and_dead = router.route(topic, record, now_ms)
        routed, dead = routed_and_dead
        for item, _, inp in routed:
            all_items.append(item)
            all_inputs.append(inp)
        per_record.append(routed_and_dead)
        if dead:
            with_letters.append(index)
    sources = list(advance)
    letters: list[DeadLetter] = []
    seen_before: set[int] = set()
    for index in with_letters:
        record, (_, dead) = records[index], per_record[index]
        if record.source:
            if await _seen(store, record):
                seen_before.add(index)
                continue
            # A dead-lettered record still moves its source on, so a redelivery
            # is not dead-lettered twice.
            sources.append(
                SourcePosition(source=record.source, position=record.position, updated_ms=now_ms)
            )
        letters.extend(dead)
    applied = on_arrival(all_items, all_inputs) if on_arrival is not None and all_items else ()
    result = await store.ingest(all_items, sources, dead_letters=letters, applied=applied)
    rows = stored_rows(all_items, result.inbox_ids)
    if summary_only:
        summary = _summary(per_record, with_letters, result, seen_before, queued_any=bool(rows))
        return Ingested([], rows, result.applied, summary)
    return Ingested(_outcomes(per_record, result, seen_before), rows, result.applied)


def _summary(
    per_record: Sequence[tuple[list[Routed], list[DeadLetter]]],
    with_letters: Sequence[int],
    result: IngestResult,
    seen_before: set[int],
    *,
    queued_any: bool,
) -> IngestSummary:
    """What `summarize(_outcomes(...))` gives, without an outcome per record
    (`with_letters`: the indexes of the records with dead letters; `queued_any`:
    whether any item got an inbox row, as `stored_rows` found)."""
    reasons = [
        (index, letter.reason)
        for index in with_letters
        if index not in seen_before
        for letter in per_record[index][1]
    ]
    if not queued_any:  # all applied on arrival (or taken before)
        return IngestSummary([], reasons)
    inbox_ids = result.inbox_ids
    applied = result.applied
    queued: list[Delivery] = []
    position = 0
    for routed, _ in per_record:
        for item, name, _ in routed:
            inbox_id = inbox_ids[position]
            if inbox_id is not None and not (applied and applied[position]):
                queued.append(
                    Delivery(item.flow, item.key, name, inbox_id, False, item.not_before_ms)
                )
            position += 1
    return IngestSummary(queued, reasons)


def _outcomes(
    per_record: Sequence[tuple[list[Routed], list[DeadLetter]]],
    result: IngestResult,
    seen_before: set[int],
) -> list[IngestOutcome]:
    """One outcome per record, from what routing gave it and what the store did."""
    inbox_ids = result.inbox_ids
    applied = result.applied or (False,) * len(inbox_ids)
    outcomes: list[IngestOutcome] = []
    position = 0
    for index, (routed, dead) in enumerate(per_record):
        if not dead and len(routed) == 1:  # most records: one flow took it
            item, name, _ = routed[0]
            inbox_id, applied_here = inbox_ids[position], applied[position]
            position += 1
            delivery = Delivery(
                item.flow, item.key, name, inbox_id, applied_here, item.not_before_ms
            )
            taken = applied_here or inbox_id is not None
            outcomes.append(IngestOutcome("accepted" if taken else "duplicate", (delivery,)))
            continue
        done: list[Delivery] = []
        taken = False
        for item, name, _ in routed:
            inbox_id, applied_here = inbox_ids[position], applied[position]
            # Positional: built once per record (see `immutable`).
            done.append(
                Delivery(item.flow, item.key, name, inbox_id, applied_here, item.not_before_ms)
            )
            taken = taken or applied_here or inbox_id is not None
            position += 1
        if not dead:
            reasons: tuple[str, ...] = ()
        else:
            reasons = () if index in seen_before else tuple(letter.reason for letter in dead)
        status: IngestStatus
        if taken:
            status = "accepted"
        elif done or index in seen_before:
            status = "duplicate"
        elif dead:
            status = "dead_lettered"
        else:
            status = "ignored"
        outcomes.append(IngestOutcome(status, tuple(done), reasons))
    return outcomes


async def _seen(store: Store, record: IncomingRecord) -> bool:
    assert record.source is not None
    seen = await store.source_position(record.source)
    if seen is None:
        return False
    if record.position is None or seen.position is None:
        return True
    return record.position <= seen.position
