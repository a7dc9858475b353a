"""`--events FILE.jsonl`: feeding lines, dead-lettering bad ones, re-runs applying nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

from flowyard.interpreter.feed import feed_file
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
