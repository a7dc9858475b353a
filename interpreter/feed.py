"""`flowd run --events FILE.jsonl`: feeding a JSON Lines file to the runtime.

One JSON object per line:

    {"topic": "orders", "value": {...}, "headers": {"h": "v"}}     an event
    {"signal": "review", "flow": "F", "key": "K", "value": {...}}    a signal

Either may carry `"after": "10m"` (flow time since the feed started) or
`"at": "2026-01-01T10:00:00Z"` to wait for that moment before it is fed: with
`--clock-speed` this places inputs on a flow's timeline. Blank lines are
skipped. Each line's source id is `file:<absolute path>:<line>`, so feeding the
same file to the same store again applies nothing twice. A line that cannot be
read (not JSON, no topic, a bad `after`) becomes a dead letter naming its line.

With a `BacklogBound` (`flowd run --max-backlog`), the feed waits before each
ingest while the backlog is at or past the bound, and goes on once it is
below: as HTTP answers 429 then, a file is throttled, never dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jsontext
from .expr_values import ConversionError, parse_duration, parse_timestamp
from .runtime import IncomingRecord, IngestOutcome, Runtime
from .store import DeadLetter, SourcePosition

DeadLetterHook = Callable[[str, str], None]

MAX_BATCH = 500
"""Consecutive event lines of one topic are ingested together, up to this many."""

BACKLOG_POLL_S = 0.05
"""How often a feed waiting for the backlog to fall looks at it again."""


@dataclass(frozen=True, slots=True)
class BacklogBound:
    """Feed nothing while `backlog()` (inputs and effect calls waiting) is at least `bound`."""

    backlog: Callable[[], int]
    bound: int

    def __post_init__(self) -> None:
        if self.bound < 1:
            raise ValueError("the backlog bound must be at least 1")

    def reached(self) -> bool:
        """Whether the backlog is at or past the bound now."""
        return self.backlog() >= self.bound


@dataclass(slots=True)
class FeedReport:
    """What a feed did, line by line."""

    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    ignored: int = 0
    waits: int = 0
    """How many times the feed waited for the backlog to fall below its bound."""

    def count(self, outcome: IngestOutcome) -> None:
        """Add one record's outcome."""
        if outcome.status == "accepted":
            self.accepted += 1
        elif outcome.status == "duplicate":
            self.duplicates += 1
        elif outcome.status == "dead_lettered":
            self.dead_lettered += 1
        else:
            self.ignored += 1

    def summary(self) -> str:
        """One line for people."""
        waited = f"; waited {self.waits} time(s) for the backlog" if self.waits else ""
        return (
            f"{self.lines} lines: {self.accepted} accepted, {self.duplicates} already applied, "
            f"{self.dead_lettered} dead-lettered, {self.ignored} ignored{waited}"
        )


class _BadLineError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Event:
    line: int
    topic: str
    value: Any
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Signal:
    line: int
    flow: str
    key: str
    name: str
    value: Any


class Feeder:
    """Feeds one JSON Lines file into a started `Runtime`."""

    def __init__(
        self,
        runtime: Runtime,
        path: str | Path,
        *,
        on_dead_letter: DeadLetterHook | None = None,
        backlog: BacklogBound | None = None,
    ) -> None:
        self._runtime = runtime
        self._path = Path(path).resolve()
        self._on_dead_letter = on_dead_letter
        self._backlog = backlog
        self._max_batch = MAX_BATCH if backlog is None else min(MAX_BATCH, backlog.bound)
        self._batch: list[_Event] = []
        self._start_ms = 0
        self.report = FeedReport()

    def source(self, line: int) -> str:
        """The source id of line number `line` (1-based)."""
        return f"file:{self._path}:{line}"

    async def run(self) -> FeedReport:
        """Feed every line, in order; returns the counts."""
        self._start_ms = self._runtime.clock.now_ms()
        with self._path.open(encoding="utf-8", errors="replace") as lines:
            for number, text in enumerate(lines, start=1):
                if not text.strip():
                    continue
                self.report.lines += 1
                try:
                    obj = jsontext.loads(text)
                    if not isinstance(obj, dict):
                        raise _BadLineError("a line must be a JSON object")
                    due = self._due(obj)
                    item = _parse_line(number, obj)
                except ValueError as exc:
                    await self._flush()
                    await self._bad_line(number, text, f"not JSON: {exc}")
                    continue
                except _BadLineError as exc:
                    await self._flush()
                    await self._bad_line(number, text, str(exc))
                    continue
                if due is not None:
                    await self._flush()
                    await self._runtime.clock.sleep_until(due)
                if isinstance(item, _Signal):
                    await self._flush()
                    await self._signal(item)
                    continue
                if self._batch and (
                    self._batch[0].topic != item.topic or len(self._batch) >= self._max_batch
                ):
                    await self._flush()
                self._batch.append(item)
        await self._flush()
        return self.report

    def _due(self, obj: dict[str, Any]) -> int | None:
        after, at = obj.get("after"), obj.get("at")
        try:
            if after is not None:
                if not isinstance(after, str):
                    raise _BadLineError('"after" must be a duration like "10m"')
                return self._start_ms + parse_duration(after).ms
            if at is not None:
                if not isinstance(at, str):
                    raise _BadLineError('"at" must be an RFC 3339 time like "2026-01-01T10:00:00Z"')
                return parse_timestamp(at).ms
        except ConversionError as exc:
            raise _BadLineError(str(exc)) from None
        return None

    async def _flush(self) -> None:
        if not self._batch:
            return
        await self._wait_for_room()
        batch, self._batch = self._batch, []
        topic = batch[0].topic
        records = [
            IncomingRecord(value=e.value, headers=e.headers, source=self.source(e.line))
            for e in batch
        ]
        outcomes = await self._runtime.ingest_events(topic, records)
        for event, outcome in zip(batch, outcomes, strict=True):
            self.report.count(outcome)
            for reason in outcome.reasons:
                self._tell(self.source(event.line), reason)

    async def _wait_for_room(self) -> None:
        """Wait while the backlog is at or past its bound (nothing is dropped)."""
        if self._backlog is None or not self._backlog.reached():
            return
        self.report.waits += 1
        while self._backlog.reached():
            await asyncio.sleep(BACKLOG_POLL_S)

    async def _signal(self, item: _Signal) -> None:
        await self._wait_for_room()
        outcome = await self._runtime.signal(
            item.flow, item.key, item.name, item.value, signal_id=self.source(item.line)
        )
        self.report.count(outcome)
        for reason in outcome.reasons:
            self._tell(self.source(item.line), reason)

    async def _bad_line(self, number: int, text: str, problem: str) -> None:
        """Dead-letter an unreadable line once (its source id remembers it)."""
        source = self.source(number)
        store = self._runtime.store
        if await store.source_position(source) is not None:
            self.report.duplicates += 1
            return
        self.report.dead_lettered += 1
        now = self._runtime.clock.now_ms()
        reason = f"{self._path.name} line {number}: {problem}"
        letter = DeadLetter(
            source=source, topic=None, reason=reason, payload=text.rstrip("\n"), at_ms=now
        )
        seen = SourcePosition(source=source, position=None, updated_ms=now)
        await store.ingest([], [seen], dead_letters=[letter])
        self._tell(source, reason)

    def _tell(self, source: str, reason: str) -> None:
        if self._on_dead_letter is not None:
            self._on_dead_letter(source, reason)


def _parse_line(number: int, obj: dict[str, Any]) -> _Event | _Signal:
    if "signal" in obj:
        name, flow, key = obj.get("signal"), obj.get("flow"), obj.get("key")
        if not isinstance(name, str) or not isinstance(flow, str):
            raise _BadLineError('a signal line needs "signal" and "flow" strings')
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str) or not key:
            raise _BadLineError('a signal line needs a "key" (a non-empty string)')
        return _Signal(number, flow, key, name, obj.get("value", {}))
    topic = obj.get("topic")
    if not isinstance(topic, str) or not topic:
        raise _BadLineError('a line needs a "topic" (or "signal", "flow" and "key")')
    if "value" not in obj:
        raise _BadLineError('an event line needs a "value"')
    headers = obj.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise _BadLineError('"headers" must be an object of strings')
    return _Event(number, topic, obj["value"], {str(k): v for k, v in headers.items()})


async def feed_file(
    runtime: Runtime,
    path: str | Path,
    *,
    on_dead_letter: DeadLetterHook | None = None,
    backlog: BacklogBound | None = None,
) -> FeedReport:
    """Feed the JSON Lines file at `path` into `runtime`; returns the counts."""
    return await Feeder(runtime, path, on_dead_letter=on_dead_letter, backlog=backlog).run()
