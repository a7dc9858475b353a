"""Live output of `flowd run`: one readable line per transition.

    12:00:01.234 order_fulfillment o-1  new ─OrderPlaced→ awaiting_payment  call reserve_stock ✓ 9ms

A transition whose actions wait for effects spans several steps; its line is
printed when it settles (with each call's outcome and how long it took), and
once more while it waits for a callback. Incidents and dead letters are red.
Colour only on a terminal (rich decides; `NO_COLOR` turns it off); the text is
the same either way. Times are the runtime clock's, in UTC.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from rich.console import Console
from rich.text import Text

from .model import (
    CALLBACK_TIMER_PREFIX,
    Cancel,
    EffectResult,
    EventInput,
    IncidentRaised,
    Input,
    RetryIncident,
    RunEffect,
    SignalInput,
    TimerInput,
)
from .program import CallAction, Program
from .runtime import Transition

ProgramLookup = Callable[[str], Program | None]
"""The program of an IR hash (None when unknown)."""

Part = tuple[str, str]
"""A piece of a line and its rich style ("" for none)."""


@dataclass(slots=True)
class _Fanout:
    """A `for_each` call: its many calls are summed up in one note."""

    effect: str
    started: float
    issued: int = 0
    ok: int = 0
    failed: int = 0
    finished: float | None = None

    def part(self) -> Part:
        done = self.ok + self.failed
        text = f"call {self.effect} x{self.issued}: {self.ok} ✓"
        if self.failed:
            text += f" {self.failed} ✗"
        if done < self.issued:
            text += f" {self.issued - done} pending"
        if self.finished is not None:
            text += " " + format_ms((self.finished - self.started) * 1e3)
        return text, "red" if self.failed else "green"


@dataclass(slots=True)
class _Call:
    effect: str
    started: float
    fanout: _Fanout | None = None


@dataclass(slots=True)
class _Segment:
    """One transition being described: where from, on what, where to, what it did."""

    origin: str
    trigger: str
    target: str | None = None
    notes: list[Part | _Fanout] = field(default_factory=list)
    calls: dict[str, _Call] = field(default_factory=dict)
    fanouts: dict[str, _Fanout] = field(default_factory=dict)
    completed: bool = False


def format_ms(ms: float) -> str:
    """A short duration: `12ms`, `1.2s`, `3m05s`."""
    if ms < 1000:
        return f"{int(ms)}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m{seconds:02d}s"


def _format_delay(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


class LiveView:
    """Turns committed steps into lines on a console (`on_transition` of a Runtime)."""

    def __init__(
        self,
        programs: ProgramLookup,
        *,
        now_ms: Callable[[], int],
        stream: TextIO | None = None,
        colour: bool | None = None,
    ) -> None:
        self._programs = programs
        self._now_ms = now_ms
        self.console = Console(
            file=stream,
            highlight=False,
            soft_wrap=True,
            force_terminal=colour,
            no_color=colour is False,
        )
        self._open: dict[tuple[str, str], _Segment] = {}
        self._states: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------ public

    def transition(self, t: Transition) -> None:
        """Describe one committed step (pass as `Runtime(on_transition=...)`)."""
        for parts in self.lines_for(t):
            self._print(t.flow, t.key, parts)

    def dead_letter(self, source: str, reason: str) -> None:
        """Report an input that was dead-lettered."""
        self._print_line([("dead letter ", "bold red"), (reason, "red"), (f"  ({source})", "dim")])

    def info(self, message: str) -> None:
        """A line about flowd itself (listening, draining, stopped)."""
        self._print_line([(message, "bold")])

    def warning(self, message: str) -> None:
        """A line about something an operator should look at."""
        self._print_line([(message, "bold yellow")])

    # ------------------------------------------------------------ describing a step

    def lines_for(self, t: Transition) -> list[list[Part]]:
        """The lines describing step `t` (each a list of styled parts)."""
        kid = (t.flow, t.key)
        instance = t.result.instance
        program = self._programs(t.ir_hash)
        state = self._states.get(kid)
        if state is None:
            state = instance.pending.origin if instance.pending is not None else instance.state
        lines: list[list[Part]] = []
        current = self._open.pop(kid, None)
        label = self._label(t.input, program)
        if current is not None:
            self._note_input(current, t)
        incident = next(
            (c.reason for c in t.result.commands if isinstance(c, IncidentRaised)), None
        )
        for entry in t.result.trace:
            word, _, rest = entry.partition(" ")
            if word == "action":
                if current is None:
                    current = _Segment(origin=state, trigger=label or "enter")
                    label = None
                self._note_action(current, rest, t, program)
            elif word == "create":
                state = rest
            elif word == "transition":
                if current is not None:
                    lines.append(self._render(current))
                current = _Segment(origin=state, trigger=label or "always")
                label = None
            elif word == "enter":
                state = rest
                if current is not None:
                    current.target = rest
            elif word == "re-offer":
                label = rest.rpartition(" ")[2]
            elif word == "deferred":
                lines.append([(f"{rest.rpartition(' ')[2]} deferred in {state}", "dim")])
                label = None
            elif word == "ignored" and not rest.startswith("result "):
                # (Results of calls a finished transition no longer awaits are noise.)
                lines.append([(entry, "dim")])
            elif word == "completed" and current is not None:
                current.completed = True
            elif word == "catch" and current is not None:
                current.notes.append(("caught", "yellow"))
            elif word == "retry":
                lines.append([("retry requested by an operator", "yellow")])
            elif word == "cancelled":
                if current is not None:
                    lines.append(self._render(current))
                    current = None
                reason = t.input.reason if isinstance(t.input, Cancel) else ""
                lines.append(
                    [("cancelled", "bold yellow"), (f" in {state}", ""), (f"  {reason}", "dim")]
                )
        if current is not None:
            # A `for_each` call issues more calls as earlier ones finish.
            self._note_calls(current, t)
        self._states[kid] = instance.state
        if incident is not None:
            if current is not None:
                current.notes.append(("✗", "bold red"))
                lines.append(self._render(current))
                current = None
            lines.append([("incident ", "bold red"), (incident, "red")])
        if current is None:
            return lines
        if instance.status == "running":
            self._open[kid] = current
            if "accepted" in (e.partition(" ")[0] for e in t.result.trace):
                lines.append([*self._render(current), ("  ⧗ awaiting callback", "yellow")])
            return lines
        lines.append(self._render(current))
        return lines

    def _label(self, inp: Input, program: Program | None) -> str | None:
        if isinstance(inp, EventInput):
            return inp.name
        if isinstance(inp, SignalInput):
            return f"signal {inp.name}"
        if isinstance(inp, TimerInput):
            if inp.timer_id.startswith(CALLBACK_TIMER_PREFIX):
                return "callback timeout"
            timer = None if program is None else program.timers.get(inp.timer_id)
            if timer is None:
                return f"timer {inp.timer_id}"
            if timer.kind == "after":
                return f"after {_format_delay(timer.delay_ms)}"
            return "at"
        if isinstance(inp, RetryIncident):
            return "retry"
        if isinstance(inp, Cancel):
            return "cancel"
        return None

    def _note_input(self, segment: _Segment, t: Transition) -> None:
        inp = t.input
        if isinstance(inp, EffectResult):
            call = segment.calls.get(inp.call_id)
            if call is not None and call.fanout is not None:
                if f"accepted {inp.call_id}" not in t.result.trace:
                    segment.calls.pop(inp.call_id)
                    call.fanout.finished = time.monotonic()
                    if inp.ok:
                        call.fanout.ok += 1
                    else:
                        call.fanout.failed += 1
                return
            name = call.effect if call is not None else inp.call_id
            took = "" if call is None else " " + format_ms((time.monotonic() - call.started) * 1e3)
            accepted = f"accepted {inp.call_id}" in t.result.trace
            verb = "callback" if inp.phase == "callback" else "call"
            if inp.ok and not accepted:
                segment.calls.pop(inp.call_id, None)
                segment.notes.append((f"{verb} {name} ✓{took}", "green"))
            elif inp.ok:
                segment.notes.append((f"call {name} ✓{took}", "green"))
            else:
                segment.calls.pop(inp.call_id, None)
                segment.notes.append((f"{verb} {name} ✗{took} {inp.error or ''}".rstrip(), "red"))
        elif isinstance(inp, TimerInput) and inp.timer_id.startswith(CALLBACK_TIMER_PREFIX):
            call_id = inp.timer_id.removeprefix(CALLBACK_TIMER_PREFIX)
            call = segment.calls.pop(call_id, None)
            name = call.effect if call is not None else call_id
            segment.notes.append((f"callback {name} timed out", "red"))

    def _note_action(
        self, segment: _Segment, action_id: str, t: Transition, program: Program | None
    ) -> None:
        action = None if program is None else program.actions.get(action_id)
        if not isinstance(action, CallAction):
            return
        effect = program.effects.get(action.effect) if program is not None else None
        if effect is not None and effect.kind == "emit":
            segment.notes.append((f"emit {action.effect}", "cyan"))
            return
        if action.for_each is not None:
            fanout = _Fanout(action.effect, time.monotonic())
            segment.fanouts[action_id] = fanout
            segment.notes.append(fanout)
        self._note_calls(segment, t, action_id)

    def _note_calls(self, segment: _Segment, t: Transition, action_id: str | None = None) -> None:
        """Remember the calls a step issued (for one action, or any not yet seen)."""
        started = time.monotonic()
        for command in t.result.commands:
            if not isinstance(command, RunEffect) or command.call_id in segment.calls:
                continue
            if action_id is not None and command.action_id != action_id:
                continue
            fanout = segment.fanouts.get(command.action_id)
            if fanout is not None:
                fanout.issued += 1
            segment.calls[command.call_id] = _Call(command.effect, started, fanout)

    def _render(self, segment: _Segment) -> list[Part]:
        target = segment.target if segment.target is not None else segment.origin
        parts: list[Part] = [
            (segment.origin, ""),
            (" ─", "dim"),
            (segment.trigger, "magenta"),
            ("→ ", "dim"),
            (target, "bold green" if segment.completed else "bold"),
        ]
        if segment.completed:
            parts.append((" (final)", "green"))
        for note in segment.notes:
            parts.append(("  ", ""))
            parts.append(note.part() if isinstance(note, _Fanout) else note)
        return parts

    # ------------------------------------------------------------ printing

    def _stamp(self) -> str:
        moment = datetime.fromtimestamp(self._now_ms() / 1000, tz=UTC)
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"

    def _print(self, flow: str, key: str, parts: list[Part]) -> None:
        self._print_line([(flow, "cyan"), (" ", ""), (key, "bold"), ("  ", ""), *parts])

    def _print_line(self, parts: list[Part]) -> None:
        text = Text.assemble((self._stamp(), "dim"), (" ", ""), *parts)
        self.console.print(text)
