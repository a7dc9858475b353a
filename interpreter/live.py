"""Live output of `flowd run`: one readable line per transition.

    12:00:01.234 order_fulfillment o-1  new ─OrderPlaced→ awaiting_payment  call reserve_stock ✓ 9ms

A transition whose actions wait for effects spans several steps; its line is
printed when it settles (with each call's outcome and how long it took), and
once more while it waits for a callback. A transition that ends in an
incident says so in place of its target. Times are the runtime clock's, in
UTC; with `flow_time` (a `--clock-speed` run) they are marked `flow`.
`every_line` keeps a terminal from summing lines up under load (`flowd test
-v`, where virtual time makes every line count).
Where the lines go, and how many a terminal shows under load, is
`live_output`'s business.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from .live_output import Line, LiveOutput, Part, open_output
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

MEMO_SIZE = 4096
"""Simple steps' lines remembered (see `_memo_key`)."""


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
    incident: str | None = None


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
        flow_time: bool = False,
        every_line: bool = False,
    ) -> None:
        self._programs = programs
        self._now_ms = now_ms
        self._out: LiveOutput = open_output(
            stream if stream is not None else sys.stdout, colour, every_line=every_line
        )
        self._flow_time = flow_time
        self._stamped_ms = -1
        self._stamp_text = ""
        self._open: dict[tuple[str, str], _Segment] = {}
        self._states: dict[tuple[str, str], str] = {}
        self._origins: dict[tuple[int, str], str | None] = {}
        self._memo: dict[tuple[object, ...], list[Line]] = {}

    # ------------------------------------------------------------ public

    def transition(self, t: Transition) -> None:
        """Describe one committed step (pass as `Runtime(on_transition=...)`)."""
        lines = self.lines_for(t)
        if not lines:
            return
        stamp = self._stamp()
        subject = (t.flow, t.key)
        for line in lines:
            self._out.line(stamp, line, subject)

    def dead_letter(self, source: str, reason: str) -> None:
        """Report an input that was dead-lettered."""
        parts = [("dead letter ", "bold red"), (reason, "red"), (f"  ({source})", "dim")]
        kind = "dead letter " + ": ".join(reason.split(": ")[:2])
        self._out.line(self._stamp(), Line(parts, kind), sample=source)

    def info(self, message: str) -> None:
        """A line about flowd itself (listening, draining, stopped)."""
        self._out.notice(self._stamp(), Line([(message, "bold")], message))

    def warning(self, message: str) -> None:
        """A line about something an operator should look at."""
        self._out.notice(self._stamp(), Line([(message, "bold yellow")], message))

    def close(self) -> None:
        """Write out whatever is held back (a summary, a buffer)."""
        self._out.close()

    # ------------------------------------------------------------ describing a step

    def lines_for(self, t: Transition) -> list[Line]:
        """The lines describing step `t`: each its styled parts and its kind."""
        kid = (t.flow, t.key)
        state = self._states.get(kid)
        before: object = state
        if state is None:
            # A key not seen before (a new instance, mostly): its lines depend on
            # where it is now, unless a transition of it is under way.
            pending = t.result.instance.pending
            before = None if pending is not None else ("unseen", t.result.instance.state)
        memo_key = None if before is None else _memo_key(t, before)
        if memo_key is not None and kid not in self._open:
            lines = self._memo.get(memo_key)
            if lines is None:
                lines = self._describe(t, kid)
                if len(self._memo) >= MEMO_SIZE:
                    self._memo.clear()
                self._memo[memo_key] = lines
            else:
                self._states[kid] = t.result.instance.state
            return lines
        return self._describe(t, kid)

    def _describe(self, t: Transition, kid: tuple[str, str]) -> list[Line]:
        instance = t.result.instance
        program = self._programs(t.ir_hash)
        state = self._states.get(kid)
        current = self._open.pop(kid, None)
        if state is None:
            # Not seen since flowd started: a running transition knows where it began.
            state = instance.pending.origin if instance.pending is not None else instance.state
            current = self._resumed(t, program, state)
        lines: list[Line] = []
        label = self._label(t.input, program)
        if current is not None:
            self._note_input(current, t, program)
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
                state = self._origin(program, rest) or state
                current = _Segment(origin=state, trigger=label or "always")
                label = None
            elif word == "enter":
                state = rest
                if current is not None:
                    current.target = rest
            elif word == "re-offer":
                label = rest.rpartition(" ")[2]
            elif word == "deferred":
                name = rest.rpartition(" ")[2]
                lines.append(Line([(f"{name} deferred in {state}", "dim")], f"{name} deferred"))
                label = None
            elif word == "ignored" and not rest.startswith("result "):
                # (Results of calls a finished transition no longer awaits are noise.)
                lines.append(Line([(entry, "dim")], entry))
            elif word == "completed" and current is not None:
                current.completed = True
            elif word == "catch" and current is not None:
                current.notes.append(("caught", "yellow"))
            elif word == "retry":
                lines.append(Line([("retry requested by an operator", "yellow")], "retry"))
                if instance.pending is not None and current is None:
                    # The transition resumes: its line comes when it settles.
                    current = _Segment(origin=instance.pending.origin, trigger="retry")
                    label = None
            elif word == "cancelled":
                if current is not None:
                    lines.append(self._render(current))
                    current = None
                reason = t.input.reason if isinstance(t.input, Cancel) else ""
                parts = [("cancelled", "bold yellow"), (f" in {state}", ""), (f"  {reason}", "dim")]
                lines.append(Line(parts, "cancelled"))
        if current is not None:
            # A `for_each` call issues more calls as earlier ones finish.
            self._note_calls(current, t)
        self._states[kid] = instance.state
        if incident is not None:
            if current is None:
                lines.append(Line([("incident ", "bold red"), (incident, "red")], "incident"))
                return lines
            current.incident = incident
            lines.append(self._render(current))
            return lines
        if current is None:
            return lines
        if instance.status == "running":
            self._open[kid] = current
            if "accepted" in (e.partition(" ")[0] for e in t.result.trace):
                line = self._render(current)
                awaiting = ("  ⧗ awaiting callback", "yellow")
                lines.append(Line([*line.parts, awaiting], line.kind + " ⧗"))
            return lines
        lines.append(self._render(current))
        return lines

    def _origin(self, program: Program | None, transition_id: str) -> str | None:
        """The state transition `transition_id` leaves (from its pointer, `/states/S/...`)."""
        if program is None:
            return None
        cache_key = (id(program), transition_id)
        if cache_key not in self._origins:
            transition = program.transitions.get(transition_id)
            self._origins[cache_key] = (
                None if transition is None else _state_of_pointer(transition.pointer)
            )
        return self._origins[cache_key]

    def _resumed(self, t: Transition, program: Program | None, state: str) -> _Segment | None:
        """A segment for a call's result whose transition began before flowd started
        (nothing open for it): it is described from here on, marked `resumed`."""
        inp = t.input
        if not isinstance(inp, EffectResult) or program is None:
            return None
        if f"result {inp.call_id}" not in t.result.trace:
            return None
        pending = t.result.instance.pending
        origin = pending.origin if pending is not None else None
        if origin is None:
            action = _action_of_call(program, t.flow, t.key, inp.call_id)
            origin = _state_of_pointer(action.pointer) if action is not None else None
        return _Segment(origin=origin or state, trigger="resumed")

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

    def _note_input(self, segment: _Segment, t: Transition, program: Program | None) -> None:
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
            name = call.effect if call is not None else _effect_of_call(program, t, inp.call_id)
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

    def _render(self, segment: _Segment) -> Line:
        head = f"{segment.origin} ─{segment.trigger}→ "
        parts: list[Part] = [
            (segment.origin, ""),
            (" ─", "dim"),
            (segment.trigger, "magenta"),
            ("→ ", "dim"),
        ]
        if segment.incident is not None:
            parts.append(("incident", "bold red"))
            kind = head + "incident"
        else:
            target = segment.target if segment.target is not None else segment.origin
            parts.append((target, "bold green" if segment.completed else "bold"))
            kind = head + target
            if segment.completed:
                parts.append((" (final)", "green"))
        for note in segment.notes:
            parts.append(("  ", ""))
            parts.append(note.part() if isinstance(note, _Fanout) else note)
        if segment.incident is not None:
            parts.append((f"  {segment.incident}", "red"))
        return Line(parts, kind)

    # ------------------------------------------------------------ printing

    def _stamp(self) -> str:
        now = self._now_ms()
        if now != self._stamped_ms:
            moment = datetime.fromtimestamp(now / 1000, tz=UTC)
            text = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
            self._stamped_ms, self._stamp_text = now, "flow " + text if self._flow_time else text
        return self._stamp_text


_SIMPLE_INPUTS = (EventInput, SignalInput, TimerInput)
_DESCRIBED_COMMANDS = (RunEffect, IncidentRaised)


def _memo_key(t: Transition, before: object) -> tuple[object, ...] | None:
    """What a simple step's lines depend on, or None for a step that is not simple.

    A step on an event, signal or timer that calls no effect, raises no
    incident and leaves its instance settled is described by its version,
    the state it started from (`before`), its input's name and its trace
    alone: most steps under load are such, and their lines are remembered,
    not rebuilt.
    """
    inp = t.input
    result = t.result
    if type(inp) not in _SIMPLE_INPUTS or result.instance.status == "running":
        return None
    for command in result.commands:
        if isinstance(command, _DESCRIBED_COMMANDS):
            return None
    name = inp.timer_id if isinstance(inp, TimerInput) else getattr(inp, "name", "")
    return (t.ir_hash, before, type(inp), name, result.trace)


def _state_of_pointer(pointer: str) -> str | None:
    """The state a JSON pointer into a flow's IR lies in (`/states/S/...` -> S)."""
    parts = pointer.split("/")
    if len(parts) < 3 or parts[1] != "states":
        return None
    return parts[2].replace("~1", "/").replace("~0", "~")


def _effect_of_call(program: Program | None, t: Transition, call_id: str) -> str:
    """The effect a call id's call was made to (the call id itself when unknown)."""
    action = None if program is None else _action_of_call(program, t.flow, t.key, call_id)
    return call_id if action is None else action.effect


def _action_of_call(program: Program, flow: str, key: str, call_id: str) -> CallAction | None:
    """The call action a call id (`{flow}/{key}/{seq}/{action}[/{item}]`) was made by."""
    rest = call_id.removeprefix(f"{flow}/{key}/").partition("/")[2]
    for action_id in (rest, rest.rpartition("/")[0]):
        action = program.actions.get(action_id)
        if isinstance(action, CallAction):
            return action
    return None
