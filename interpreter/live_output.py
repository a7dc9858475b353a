"""Where the live output's lines go: a file or pipe, or a person's terminal.

`flowd run` prints a line per transition. Off a terminal (a file, a pipe,
systemd's journal, CI) nobody reads them as they come, so they are written as
plain text into the stream's buffer and flushed at most every half second:
no rich rendering, no write per line. On a terminal a person is watching:
the lines are rendered with colour, but at most `LINES_PER_SECOND` of them
each second; past that, the rest of the second is summed up in one block, a
count per flow and transition with a few keys as samples, so the view stays
readable and cheap under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console
from rich.text import Text

Part = tuple[str, str]
"""A piece of a line and its rich style ("" for none)."""

Subject = tuple[str, str]
"""The flow and key a line is about."""


class Line:
    """A line's styled parts, and its kind: what it says without key or time,
    by which a busy terminal sums lines up. Its plain text is joined once."""

    __slots__ = ("_text", "kind", "parts")

    def __init__(self, parts: list[Part], kind: str) -> None:
        self.parts = parts
        self.kind = kind
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The line without styles."""
        if self._text is None:
            self._text = "".join([text for text, _ in self.parts])
        return self._text

    def __repr__(self) -> str:
        return f"Line({self.text!r})"


FLUSH_AFTER_S = 0.5
LINES_PER_SECOND = 20
SUMMARY_GROUPS = 8
SAMPLES_PER_GROUP = 3


class LiveOutput(Protocol):
    """Takes the live output's lines."""

    def line(
        self, stamp: str, line: Line, subject: Subject | None = None, sample: str = ""
    ) -> None:
        """A line about one instance (`subject`) or input (`sample` names it);
        it may be summed up under load."""

    def notice(self, stamp: str, line: Line) -> None:
        """A line about flowd itself; always shown, at once."""

    def close(self) -> None:
        """Write out whatever is held back."""


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal (a person is watching)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # closed
        return False


def open_output(stream: TextIO, colour: bool | None, *, every_line: bool = False) -> LiveOutput:
    """Rich, rate-limited lines on a terminal (every line with `every_line`);
    plain buffered text elsewhere (rich, every line, when colour is forced off
    a terminal)."""
    terminal = is_terminal(stream)
    if terminal or colour is True:
        return TerminalOutput(stream, colour=colour, rate_limited=terminal and not every_line)
    return PlainOutput(stream)


def _call_later(delay_s: float, callback: Callable[[], None]) -> bool:
    """Run `callback` on the running event loop after `delay_s` (False without a loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    loop.call_later(delay_s, callback)
    return True


class PlainOutput:
    """Plain text into the stream's buffer, flushed at most `FLUSH_AFTER_S` later."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._flush_due = False

    def line(
        self, stamp: str, line: Line, subject: Subject | None = None, sample: str = ""
    ) -> None:
        if subject is None:
            self._stream.write(f"{stamp} {line.text}\n")
        else:
            self._stream.write(f"{stamp} {subject[0]} {subject[1]}  {line.text}\n")
        if not self._flush_due:
            self._flush_due = _call_later(FLUSH_AFTER_S, self._flush)
            if not self._flush_due:
                self._stream.flush()

    def notice(self, stamp: str, line: Line) -> None:
        self._stream.write(f"{stamp} {line.text}\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()

    def _flush(self) -> None:
        self._flush_due = False
        # A closed or broken stream: the next write says so.
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()


@dataclass(slots=True)
class _Group:
    count: int = 0
    samples: list[str] = field(default_factory=list)


class TerminalOutput:
    """Rich lines on a console; with `rate_limited`, at most `LINES_PER_SECOND`
    a second, the rest summed up by group once the second is over."""

    def __init__(
        self,
        stream: TextIO,
        *,
        colour: bool | None,
        rate_limited: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console = Console(
            file=stream,
            highlight=False,
            soft_wrap=True,
            force_terminal=colour,
            no_color=colour is False,
        )
        self._rate_limited = rate_limited
        self._clock = clock
        self._second = -1
        self._shown = 0
        self._held: dict[tuple[str | None, str], _Group] = {}
        """Lines held back this second, by flow (None for no flow) and kind."""
        self._held_count = 0
        self._last_stamp = ""
        self._summary_due = False

    def line(
        self, stamp: str, line: Line, subject: Subject | None = None, sample: str = ""
    ) -> None:
        if not self._rate_limited:
            self._print(stamp, _styled(line, subject))
            return
        second = int(self._clock())
        if second != self._second:
            self._summarise()
            self._second, self._shown = second, 0
        if self._shown < LINES_PER_SECOND:
            self._shown += 1
            self._print(stamp, _styled(line, subject))
            return
        group = (None if subject is None else subject[0], line.kind)
        held = self._held.get(group)
        if held is None:
            held = self._held[group] = _Group()
        held.count += 1
        if len(held.samples) < SAMPLES_PER_GROUP:
            held.samples.append(sample if subject is None else subject[1])
        self._held_count += 1
        self._last_stamp = stamp
        if not self._summary_due:
            self._summary_due = _call_later(second + 1 - self._clock(), self._on_second_over)

    def notice(self, stamp: str, line: Line) -> None:
        self._summarise()
        self._print(stamp, line.parts)

    def close(self) -> None:
        self._summarise()

    def _on_second_over(self) -> None:
        self._summary_due = False
        self._summarise()

    def _summarise(self) -> None:
        if not self._held_count:
            return
        held, count = self._held, self._held_count
        self._held, self._held_count = {}, 0
        self._print(
            self._last_stamp,
            [(f"… {count:,} more lines in that second, by flow and transition:", "bold")],
        )
        ranked = sorted(held.items(), key=lambda item: -item[1].count)
        for (flow, kind), entry in ranked[:SUMMARY_GROUPS]:
            samples = ", ".join(entry.samples)
            self._console.print(
                Text.assemble(
                    (f"    {entry.count:>8,}  ", "bold"),
                    (f"{flow} " if flow is not None else "", "cyan"),
                    kind,
                    (f"  e.g. {samples}", "dim"),
                )
            )
        if len(ranked) > SUMMARY_GROUPS:
            rest = sum(entry.count for _, entry in ranked[SUMMARY_GROUPS:])
            self._console.print(
                Text(f"    {rest:>8,} in {len(ranked) - SUMMARY_GROUPS} other kinds", style="dim")
            )

    def _print(self, stamp: str, parts: Sequence[Part]) -> None:
        self._console.print(Text.assemble((stamp, "dim"), (" ", ""), *parts))


def _styled(line: Line, subject: Subject | None) -> Sequence[Part]:
    if subject is None:
        return line.parts
    return [(subject[0], "cyan"), (" ", ""), (subject[1], "bold"), ("  ", ""), *line.parts]
