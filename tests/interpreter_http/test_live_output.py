"""Where live lines go: plain buffered text off a terminal; on a terminal, rich lines
rate-limited to LINES_PER_SECOND, the rest of each second summed up by flow and transition."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import select
import time

from flowyard.interpreter import live_output
from flowyard.interpreter.live_output import (
    LINES_PER_SECOND,
    Line,
    PlainOutput,
    TerminalOutput,
    open_output,
)


class CountingStream(io.StringIO):
    """A file-like stream that counts its flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_off_a_terminal_the_output_is_plain() -> None:
    stream = io.StringIO()
    assert isinstance(open_output(stream, None), PlainOutput)
    assert isinstance(open_output(stream, False), PlainOutput)
    assert isinstance(open_output(stream, True), TerminalOutput)  # --color always


def test_on_a_terminal_the_output_is_rich() -> None:
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as stream:
            assert isinstance(open_output(stream, None), TerminalOutput)
    finally:
        os.close(leader)
        os.close(follower)


def terminal_text(every_line: bool, count: int) -> str:
    """What a terminal shows after `count` lines in a moment."""
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as stream:
            out = open_output(stream, False, every_line=every_line)
            for i in range(count):
                out.line("12:00:00.000", Line([(f"line {i}", "")], "kind"), ("flow", "k"))
            out.close()
            stream.flush()
        seen = b""
        deadline = time.monotonic() + 5
        while b"line " + str(count - 1).encode() not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                seen += os.read(leader, 65536)
            elif b"more lines" in seen:
                break
        return seen.decode()
    finally:
        os.close(leader)
        os.close(follower)


def test_a_terminal_sums_lines_up_unless_every_line_is_asked_for() -> None:
    assert terminal_text(every_line=True, count=50).count("line ") == 50
    summed = terminal_text(every_line=False, count=50)
    # (50 lines in a moment: a second may end among them, but not twice.)
    assert LINES_PER_SECOND <= summed.count("line ") <= 2 * LINES_PER_SECOND
    assert "more lines in that second" in summed


async def test_plain_lines_are_buffered_and_flushed_soon_after() -> None:
    stream = CountingStream()
    out = PlainOutput(stream)
    for i in range(1000):
        out.line("12:00:00.000", Line([("pong", "bold")], "ping ─Ping→ pong"), ("flow", f"k-{i}"))
    assert stream.flushes == 0
    assert stream.getvalue().splitlines()[999] == "12:00:00.000 flow k-999  pong"
    await asyncio.sleep(live_output.FLUSH_AFTER_S + 0.2)
    assert stream.flushes == 1
    out.notice("12:00:01.000", Line([("flowd: stopped", "bold")], "stopped"))
    assert stream.flushes == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_terminal_shows_a_summary_per_second() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    out = TerminalOutput(stream, colour=False, rate_limited=True, clock=clock)
    for i in range(500):
        kind = "ping ─Ping→ pong" if i % 5 else "pong ─Ping→ ping"
        out.line("12:00:00.000", Line([(f"line {i}", "")], kind), ("bench", f"k-{i}"))
    clock.now = 101.2
    out.line("12:00:01.000", Line([("next second", "")], "next"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == LINES_PER_SECOND + 4
    last_shown = LINES_PER_SECOND - 1
    assert lines[last_shown] == f"12:00:00.000 bench k-{last_shown}  line {last_shown}"
    held = 500 - LINES_PER_SECOND
    assert lines[LINES_PER_SECOND] == (
        f"12:00:00.000 … {held} more lines in that second, by flow and transition:"
    )
    assert lines[LINES_PER_SECOND + 1].split() == (
        ["384", "bench", "ping", "─Ping→", "pong", "e.g.", "k-21,", "k-22,", "k-23"]
    )
    assert lines[LINES_PER_SECOND + 2].split()[:5] == ["96", "bench", "pong", "─Ping→", "ping"]
    assert lines[-1] == "12:00:01.000 next second"


def test_a_quiet_terminal_shows_every_line() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    out = TerminalOutput(stream, colour=False, rate_limited=True, clock=clock)
    for i in range(3 * LINES_PER_SECOND):
        clock.now += 1 / LINES_PER_SECOND
        out.line("12:00:00.000", Line([(f"line {i}", "")], "g"), ("flow", "k"))
    out.close()
    assert len(stream.getvalue().splitlines()) == 3 * LINES_PER_SECOND
