"""`--events FILE.jsonl`: feeding lines, dead-lettering bad ones, re-runs applying nothing twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from flowyard.interpreter.feed import BacklogBound, Feeder, feed_file
from flowyard.interpreter.runtime import IncomingRecord, IngestOutcome
from http_helpers import Harness, HarnessFactory, stop

LINES = [
    {"topic": "things", "value": {"type": "created", "id": "f-1", "size": 2}},
    {"topic": "things", "value": {"type": "created", "id": "f-2", "size": 5}},
    {"signal": "approve", "flow": "things", "key": "f-2", "value": {"ok": False}},
    {"topic": "things", "value": {"type": "created", "id": "f-3", "size": -1}},
]


def write_feed(path: Path, extra: list[str] = ()) -> Path:  # type: ignore[assignment]
    text = "\n".join(json.dumps(line) for line in LINES) + "\n" + "\n".join(extra) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


async def test_feed_applies_events_and_signals(h: Harness, tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "things.events.jsonl")
    report = await feed_file(h.runtime, feed)
    await h.settle()
    assert (report.lines, report.accepted, report.dead_lettered) == (4, 3, 1)
    assert (await h.runtime.get_instance("things", "f-1")).state == "open"  # type: ignore[union-attr]
    assert (await h.runtime.get_instance("things", "f-2")).state == "rejected"  # type: ignore[union-attr]
    letters = await h.store.dead_letters()
    assert [letter.source for letter in letters] == [f"file:{feed.resolve()}:4"]


async def test_bad_lines_are_dead_lettered_with_their_line_number(
    h: Harness, tmp_path: Path
) -> None:
    feed = write_feed(
        tmp_path / "bad.jsonl",
        extra=[
            "not json at all",
            '["a", "list"]',
            '{"value": {"id": 1}}',
            '{"topic": "things"}',
            '{"topic": "things", "value": {}, "after": "soon"}',
            '{"signal": "approve", "flow": "things"}',
            '{"topic": "things", "value": {"type": "created", "id": "n", "size": NaN}}',
        ],
    )
    seen: list[tuple[str, str]] = []
    report = await feed_file(h.runtime, feed, on_dead_letter=lambda s, r: seen.append((s, r)))
    assert report.dead_lettered == 8
    letters = await h.store.dead_letters()
    reasons = {letter.source.rsplit(":", 1)[1]: letter.reason for letter in letters}
    assert "line 5: not JSON" in reasons["5"]
    assert "line 6: a line must be a JSON object" in reasons["6"]
    assert '"topic"' in reasons["7"]
    assert '"value"' in reasons["8"]
    assert "not a duration" in reasons["9"]
    assert '"key"' in reasons["10"]
    assert "NaN is not JSON" in reasons["11"]
    assert len(seen) == 8


async def test_rerunning_a_file_applies_nothing_twice(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "again.jsonl", extra=["garbage"])
    h1 = await make_harness()
    await feed_file(h1.runtime, feed)
    await h1.settle()
    journal_before = len(await h1.store.journal("things", "f-2"))
    await stop(h1)
    h2 = await make_harness()
    report = await feed_file(h2.runtime, feed)
    await h2.settle()
    assert report.accepted == 0
    assert report.duplicates == 5
    assert len(await h2.store.journal("things", "f-2")) == journal_before
    assert len(await h2.store.dead_letters()) == 2


async def test_a_line_the_store_cannot_hold_is_a_dead_letter_and_the_feed_goes_on(
    h: Harness, tmp_path: Path
) -> None:
    feed = tmp_path / "surrogates.jsonl"
    feed.write_text(
        '{"topic": "things", "value": {"type": "created", "id": "s-1", "size": 1}}\n'
        '{"topic": "things", "value": {"type": "created", "id": "s-\\ud800", "size": 1}}\n'
        '{"topic": "things", "value": {"type": "created", "id": "s-2", "size": 1'
        + "0"
        * 1200
        + "}}\n"
        '{"topic": "things", "value": {"type": "created", "id": "s-3", "size": 1}}\n',
        encoding="utf-8",
    )
    report = await feed_file(h.runtime, feed)
    await h.settle()
    assert (report.lines, report.accepted, report.dead_lettered) == (4, 2, 2)
    reasons = [letter.reason for letter in await h.store.dead_letters()]
    assert any("lone surrogate (U+D800)" in r for r in reasons)
    assert any("too large to store" in r for r in reasons)
    assert (await h.runtime.get_instance("things", "s-3")) is not None


async def test_a_feed_waits_while_the_backlog_is_at_its_bound_and_drops_nothing(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The signal to w-0 starts a check that stays in flight until the test opens
    # its gate; with the backlog (keys to step plus calls in flight) bounded at 1,
    # the feed must wait before the lines after the signal.
    keys = [f"w-{n}" for n in range(6)]
    lines = [{"topic": "things", "value": {"type": "created", "id": "w-0", "size": 0}}]
    lines.append({"signal": "approve", "flow": "things", "key": "w-0", "value": {"ok": True}})
    lines += [
        {"topic": "things", "value": {"type": "created", "id": key, "size": n}}
        for n, key in enumerate(keys[1:], start=1)
    ]
    feed = tmp_path / "burst.jsonl"
    feed.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    gate = asyncio.Event()
    h.effects.check_gates["w-0"] = gate
    in_flight_at_ingest: list[int] = []
    ingest = h.runtime.ingest_events

    async def watched(topic: str, records: Sequence[IncomingRecord]) -> list[IngestOutcome]:
        in_flight_at_ingest.append(h.runtime.effects_in_flight)
        return await ingest(topic, records)

    monkeypatch.setattr(h.runtime, "ingest_events", watched)

    def backlog() -> int:
        return h.runtime.pending_keys + h.runtime.effects_in_flight

    feeder = Feeder(h.runtime, feed, backlog=BacklogBound(backlog, 1))
    feeding = asyncio.create_task(feeder.run())
    while feeder.report.waits == 0:  # the feed stops at the bound...
        assert not feeding.done(), "the feed went past the bound"
        await asyncio.sleep(0.01)
    fed_before_the_gate = len(in_flight_at_ingest)
    for _ in range(5):  # ...and stays stopped while the call is in flight
        await asyncio.sleep(0.01)
        assert not feeding.done()
        assert len(in_flight_at_ingest) == fed_before_the_gate < len(keys)
    gate.set()  # the backlog falls below the bound: the feed goes on
    report = await feeding
    await h.settle()
    assert report.waits >= 1
    assert in_flight_at_ingest == [0] * len(keys)  # nothing was fed past the bound
    assert (report.lines, report.accepted, report.duplicates) == (7, 7, 0)
    assert f"waited {report.waits} time(s) for the backlog" in report.summary()
    first = await h.runtime.get_instance("things", "w-0")
    assert first is not None and first.state == "approved"
    for n, key in enumerate(keys[1:], start=1):
        instance = await h.runtime.get_instance("things", key)
        assert instance is not None and instance.data["size"] == n
        assert len(await h.store.journal("things", key)) == 1  # applied exactly once
