"""Live lines that tell the truth in the cases a new user met: a timer firing after a
restart names the state it left, an incident does not look like a self-transition, a
transition resumed by an operator's retry (or after a restart) gets its line, and a
`--clock-speed` run marks its times as flow time."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flowyard.compiler.api import compile_text
from flowyard.interpreter.core import step
from flowyard.interpreter.live import LiveView
from flowyard.interpreter.model import (
    EffectResult,
    EventInput,
    Input,
    Instance,
    RetryIncident,
    RunEffect,
    TimerInput,
)
from flowyard.interpreter.program import Program
from flowyard.interpreter.runtime import Transition

FLOW = """
flow: story
version: 1
key: id
events:
  Go: {topic: go, key: event.id}
effects:
  ship: {python: "nowhere:ship", retry: {attempts: 1}}
initial: new
states:
  new:
    on:
      Go: {goto: waiting}
  waiting:
    after:
      3s:
        do: [{call: ship}]
        goto: shipped
  shipped: {final: true}
"""

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STAMP = r"\d\d:\d\d:\d\d\.\d\d\d"


class Story:
    """Steps one instance with the pure core and shows each step on a LiveView."""

    def __init__(self, *, flow_time: bool = False) -> None:
        ir, diagnostics = compile_text(FLOW, file="story.flow.yaml", surface="yaml")
        assert ir is not None, diagnostics
        self.program = Program.from_ir(ir)
        self.hash = str(ir["hash"])
        self.instance: Instance | None = None
        self.now = START
        self.out = io.StringIO()
        self.flow_time = flow_time
        self.view = self.restart()
        self.calls: list[str] = []

    def restart(self) -> LiveView:
        """A new view, as after flowd restarts: it remembers nothing."""
        self.view = LiveView(
            lambda _: self.program,
            now_ms=lambda: self.now,
            stream=self.out,
            colour=False,
            flow_time=self.flow_time,
        )
        return self.view

    def feed(self, inp: Input) -> None:
        result = step(self.program, self.instance, inp, key="k")
        self.instance = result.instance
        self.calls += [c.call_id for c in result.commands if isinstance(c, RunEffect)]
        self.view.transition(
            Transition(flow="story", key="k", input=inp, result=result, ir_hash=self.hash)
        )

    def go(self) -> None:
        self.feed(EventInput("Go", {"id": "k"}, {"topic": "go"}, self.now))

    def fire(self) -> None:
        self.now += 3000
        self.feed(TimerInput("waiting/after/0", self.now))

    def result(self, ok: bool, value: Any = None) -> None:
        call = self.calls[-1]
        self.feed(EffectResult(call, ok, value, None if ok else "carrier down", "call", self.now))

    def lines(self) -> list[str]:
        return [re.sub("^" + STAMP + " ", "", line) for line in self.out.getvalue().splitlines()]


def timer_ids(program: Program) -> list[str]:
    return sorted(program.timers)


def test_the_story_flow_has_the_timer_the_tests_fire() -> None:
    assert timer_ids(Story().program) == ["waiting/after/0"]


def test_a_timer_after_a_restart_names_the_state_it_left() -> None:
    story = Story()
    story.go()
    story.restart()
    story.fire()
    story.result(True)
    assert story.lines()[-1].startswith("story k  waiting ─after 3s→ shipped (final)  call ship ✓")


def test_an_incident_is_not_a_self_transition() -> None:
    story = Story()
    story.go()
    story.fire()
    story.result(False)
    assert story.lines()[1:] == [
        "story k  waiting ─after 3s→ incident  call ship ✗ 0ms carrier down"
        "  effect 'ship' failed in waiting/after/0/0/do/0: carrier down"
    ]


def test_a_retried_transition_prints_its_completion() -> None:
    story = Story()
    story.go()
    story.fire()
    story.result(False)
    story.feed(RetryIncident(story.now))
    story.result(True, {"tracking": "T-1"})
    assert story.lines()[2:] == [
        "story k  retry requested by an operator",
        "story k  waiting ─retry→ shipped (final)  call ship ✓ 0ms",
    ]


def test_a_transition_resumed_after_a_restart_prints_its_completion() -> None:
    story = Story()
    story.go()
    story.fire()
    story.restart()
    story.result(True)
    assert story.lines()[1:] == ["story k  waiting ─resumed→ shipped (final)  call ship ✓"]


@pytest.mark.parametrize(("flow_time", "prefix"), [(True, "flow "), (False, "")])
def test_flow_time_is_marked(flow_time: bool, prefix: str) -> None:
    story = Story(flow_time=flow_time)
    story.go()
    assert story.out.getvalue().startswith(prefix + "00:00:00.000 story k  new ─Go→ waiting")


def test_steps_alike_are_described_alike_and_remembered() -> None:
    story = Story()
    results = {}
    for key in ("a", "b", "c"):
        inp = EventInput("Go", {"id": key}, {"topic": "go"}, story.now)
        results[key] = step(story.program, None, inp, key=key)
        story.view.transition(
            Transition(flow="story", key=key, input=inp, result=results[key], ir_hash=story.hash)
        )
    again = EventInput("Go", {"id": "a"}, {"topic": "go"}, story.now)
    result = step(story.program, results["a"].instance, again, key="a")
    story.view.transition(
        Transition(flow="story", key="a", input=again, result=result, ir_hash=story.hash)
    )
    assert story.lines() == [
        "story a  new ─Go→ waiting",
        "story b  new ─Go→ waiting",
        "story c  new ─Go→ waiting",
        "story a  ignored event Go",
    ]
