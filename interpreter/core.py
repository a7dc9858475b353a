"""The functional core: `step(program, instance, input) -> StepResult`.

Pure and deterministic: no clock (time is the input's `at_ms`), no randomness,
no I/O. The same program, snapshot and input always give the same snapshot,
commands and trace, which is what lets a replay of the journal rebuild every
instance exactly.

One step applies one input and then runs until the instance waits again: a
transition's actions run in order; a `call` suspends the transition (status
`running`) until its EffectResults arrive; after a transition finishes, data is
checked, `always` candidates are tried and deferred inputs are re-offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import core_calls as calls
from .datacheck import DataProblem, describe
from .expr import ExprError, pointer_join
from .expr_values import ConversionError, Timestamp, parse_timestamp, to_json_value, type_name
from .model import (
    CALLBACK_TIMER_PREFIX,
    NAMED_INPUTS,
    ArmTimer,
    AwaitCallback,
    CallProgress,
    Cancel,
    CancelTimer,
    Command,
    Completed,
    EffectResult,
    EventInput,
    Incident,
    IncidentRaised,
    Input,
    Instance,
    OutstandingCall,
    Pending,
    Phase,
    RetryIncident,
    RunEffect,
    SignalInput,
    Status,
    StepResult,
    TimerInput,
)
from .program import Action, CallAction, Program, SetAction, Timer, Transition

_NO_ENV: dict[str, str] = {}
_JSON_AS_IS = frozenset({str, int, bool, type(None)})
"""Types of the values `to_json_value` returns unchanged, so need not be passed to it."""


def step(
    program: Program,
    instance: Instance | None,
    inp: Input,
    *,
    key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> StepResult:
    """Apply one input to an instance (or create it) and run until it waits again.

    With `instance=None` the instance `(program.flow, key)` is created first: data
    takes its defaults, the initial state is entered, then `inp` is applied.
    `env` is the mapping of environment variables the operator allows.
    Never raises for anything an input or an expression can do; failures become
    incidents.
    """
    # Expressions read maps as dicts; a read-only or lazy mapping becomes one dict per step.
    env = _NO_ENV if env is None else env if isinstance(env, dict) else dict(env)
    if instance is not None and instance.ir_hash != program.hash:
        raise ValueError(
            f"instance {instance.flow}/{instance.key} is pinned to {instance.ir_hash}, "
            f"not {program.hash}"
        )
    if instance is None:
        if key is None:
            raise ValueError("creating an instance needs its key")
        run = _Run.create(program, key, inp, env)
    else:
        run = _Run(program, instance, inp, env)
        run.apply(inp)
    run.advance()
    return run.result()


def new_data(program: Program) -> dict[str, Any]:
    """The data object of a new instance: every field at its default."""
    return {name: _copy(value) for name, value in program.data_defaults.items()}


@dataclass(slots=True, eq=False)
class _PC:
    """The working, mutable program counter of a step; a `Pending` when the step ends.

    A transition moves through several phases and actions in one step; keeping
    the counter mutable spares building a frozen `Pending` at each of them.
    """

    transition: str | None
    trigger: Input | None
    origin: str
    target: str | None
    phase: Phase
    action_index: int
    call: CallProgress | None = None
    then_input: Input | None = None
    always_steps: int = 0
    entered_ms: int | None = None

    @classmethod
    def of(cls, p: Pending) -> _PC:
        return cls(
            transition=p.transition,
            trigger=p.trigger,
            origin=p.origin,
            target=p.target,
            phase=p.phase,
            action_index=p.action_index,
            call=p.call,
            then_input=p.then_input,
            always_steps=p.always_steps,
            entered_ms=p.entered_ms,
        )

    def frozen(self) -> Pending:
        return Pending(
            transition=self.transition,
            trigger=self.trigger,
            origin=self.origin,
            target=self.target,
            phase=self.phase,
            action_index=self.action_index,
            call=self.call,
            then_input=self.then_input,
            always_steps=self.always_steps,
            entered_ms=self.entered_ms,
        )

    def call_ids(self) -> frozenset[str]:
        return frozenset() if self.call is None else self.call.outstanding_ids()


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class _Run:
    """The working copy of one step: a mutable snapshot plus the commands and trace so far."""

    __slots__ = (
        "_scope",
        "always_steps",
        "at_ms",
        "commands",
        "data",
        "deferred",
        "dirty",
        "env",
        "flow",
        "incident",
        "ir_hash",
        "key",
        "pending",
        "program",
        "queued",
        "seq",
        "state",
        "status",
        "timers",
        "trace",
    )

    def __init__(self, program: Program, instance: Instance, inp: Input, env: Mapping[str, str]):
        self.program = program
        self.env = env
        self.at_ms = inp.at_ms
        self.flow = instance.flow
        self.key = instance.key
        self.ir_hash = instance.ir_hash
        self.seq = instance.seq
        self.state = instance.state
        self.status: Status = instance.status
        # Top-level fields are replaced, never changed in place, so a shallow copy keeps
        # the input snapshot intact.
        self.data: dict[str, Any] = dict(instance.data)
        self.timers = dict(instance.timers)
        self.deferred = list(instance.deferred)
        self._scope: tuple[Input | None, str, dict[str, Any]] | None = None
        self.incident = instance.incident
        self.commands: list[Command] = []
        self.trace: list[str] = []
        self.queued: Input | None = None
        pending = instance.pending
        self.pending = None if pending is None else _PC.of(pending)
        self.always_steps = 0 if pending is None else pending.always_steps
        # Fields written since the last data check. A transition resumed from an earlier
        # step may have written any field before it suspended, so all are checked then.
        self.dirty: set[str] = set() if pending is None else set(instance.data)

    @classmethod
    def create(cls, program: Program, key: str, inp: Input, env: Mapping[str, str]) -> _Run:
        blank = Instance(
            flow=program.flow,
            key=key,
            ir_hash=program.hash,
            seq=0,
            state=program.initial,
            status="running",
            data=new_data(program),
        )
        run = cls(program, blank, inp, env)
        run.dirty.update(blank.data)
        run.trace.append(f"create {program.initial}")
        run.pending = _PC(
            transition=None,
            trigger=inp,
            origin=program.initial,
            target=None,
            phase="enter",
            action_index=0,
            then_input=inp,
            entered_ms=inp.at_ms,
        )
        return run

    def result(self) -> StepResult:
        pending = None
        if self.pending is not None:
            self.pending.always_steps = self.always_steps
            pending = self.pending.frozen()
        instance = Instance(
            self.flow,
            self.key,
            self.ir_hash,
            self.seq + 1,
            self.state,
            self.status,
            self.data,
            self.timers,
            tuple(self.deferred),
            pending,
            self.incident,
        )
        return StepResult(instance, tuple(self.commands), tuple(self.trace))

    # ------------------------------------------------------------ dispatch

    def apply(self, inp: Input) -> None:
        """Route one input by the instance's status."""
        if isinstance(inp, Cancel):
            self.cancel(inp)
        elif self.status == "active":
            self.offer(inp)
        elif self.status in ("completed", "cancelled"):
            self.trace.append(f"ignored {_describe(inp)} ({self.status})")
        elif self.status == "incident":
            if isinstance(inp, RetryIncident):
                self.retry()
            elif self._awaited(inp):
                self.resume(inp)
            else:
                self.trace.append(f"ignored {_describe(inp)} (incident)")
        elif self.status == "running":
            if self._awaited(inp):
                self.resume(inp)
            else:
                self.trace.append(f"ignored {_describe(inp)} (running)")

    def _awaited(self, inp: Input) -> bool:
        if self.pending is None:
            return False
        if isinstance(inp, EffectResult):
            return inp.call_id in self.pending.call_ids()
        return (
            isinstance(inp, TimerInput)
            and inp.timer_id.startswith(CALLBACK_TIMER_PREFIX)
            and inp.timer_id in self.timers
        )

    def offer(self, inp: Input, *, retried: bool = False) -> None:
        """An input for an active instance: take a transition, defer it, or ignore it.

        `retried`: an operator retries an input that failed before; a timer among
        them was already taken off the armed timers when it first fired.
        """
        if isinstance(inp, NAMED_INPUTS):
            state = self.program.states[self.state]
            candidates = state.on.get(inp.name)
            if candidates is None:
                if inp.name in state.defer:
                    self.deferred.append(inp)
                    self.trace.append(f"deferred {_describe(inp)}")
                else:
                    self.trace.append(f"ignored {_describe(inp)}")
                return
            self.choose(candidates, inp)
        elif isinstance(inp, TimerInput):
            timer = self.program.timers.get(inp.timer_id)
            armed = retried or inp.timer_id in self.timers
            if not armed or timer is None or timer.state != self.state:
                self.trace.append(f"ignored {_describe(inp)}")
                return
            self.timers.pop(inp.timer_id, None)
            self.choose(timer.candidates, inp)
        else:
            self.trace.append(f"ignored {_describe(inp)}")

    def choose(self, candidates: tuple[Transition, ...], trigger: Input) -> None:
        """Take the first candidate whose guard holds, or note that none did."""
        taken = self.first_match(candidates, trigger, retry_input=trigger)
        if taken is not None:
            self.begin(taken, trigger)
        elif self.status == "active":
            self.trace.append(f"ignored {_describe(trigger)} (no guard held)")

    def first_match(
        self, candidates: tuple[Transition, ...], trigger: Input | None, retry_input: Input | None
    ) -> Transition | None:
        """The first candidate whose `when` is null or true; a failing guard is an incident."""
        scope = None
        for candidate in candidates:
            if candidate.when is None:
                return candidate
            if scope is None:
                scope = self.scope(trigger)
            try:
                ok = candidate.when(scope)
            except ExprError as exc:
                self.raise_incident(
                    f"guard of {candidate.id} failed: {exc.message}",
                    pointer=exc.pointer,
                    retry_input=retry_input,
                )
                return None
            if not isinstance(ok, bool):
                self.raise_incident(
                    f"guard of {candidate.id} gave a {type_name(ok)}, not a bool",
                    pointer=pointer_join(candidate.pointer, "when"),
                    retry_input=retry_input,
                )
                return None
            if ok:
                return candidate
        return None

    def begin(self, transition: Transition, trigger: Input | None) -> None:
        self.trace.append(f"transition {transition.id}")
        self.status = "running"
        # Positional, as this runs for every transition (see `immutable`).
        self.pending = _PC(transition.id, trigger, self.state, transition.target, "do", 0)

    # ------------------------------------------------------------ the main loop

    def advance(self) -> None:
        """Run until the instance waits: transitions, data checks, always, deferred inputs."""
        while True:
            if self.status == "running":
                if self.run_actions():
                    continue
            elif self.status == "active":
                if self.try_always():
                    continue
                if self.queued is not None:
                    inp, self.queued = self.queued, None
                    self.offer(inp)
                    continue
                if self.deferred and self.try_deferred():
                    continue
                return
            if self.queued is not None and self.status in ("running", "incident"):
                # The first input still waits for the instance: keep it ahead of the deferred.
                self.deferred.insert(0, self.queued)
            self.queued = None
            return

    def try_always(self) -> bool:
        """Take an `always` candidate of the current state; True when something changed."""
        state = self.program.states[self.state]
        if not state.always:
            return False
        taken = self.first_match(state.always, None, retry_input=None)
        if taken is None:
            return self.status != "active"
        self.always_steps += 1
        if self.always_steps > self.program.max_always_steps:
            self.raise_incident(
                f"'always' transitions ran more than {self.program.max_always_steps} "
                f"times in a row (last in state {self.state!r}); is there a loop?"
            )
        else:
            self.begin(taken, None)
        return True

    def try_deferred(self) -> bool:
        """Re-offer the earliest deferred input the current state no longer defers."""
        state = self.program.states[self.state]
        for i, inp in enumerate(self.deferred):
            name = inp.name if isinstance(inp, NAMED_INPUTS) else ""
            if name in state.defer and name not in state.on:
                continue
            del self.deferred[i]
            self.trace.append(f"re-offer {_describe(inp)}")
            self.offer(inp)
            return True
        return False

    # ------------------------------------------------------------ running actions

    def scope(self, trigger: Input | None) -> dict[str, Any]:
        # `data` is the live dict (fields are assigned in place), so one scope
        # serves a trigger until the state changes.
        cached = self._scope
        if cached is not None and cached[0] is trigger and cached[1] == self.state:
            return cached[2]
        scope: dict[str, Any] = {
            "data": self.data,
            "key": self.key,
            "state": self.state,
            "env": self.env,
        }
        if self.program.reads_now:
            scope["now"] = Timestamp(self.at_ms)
        if isinstance(trigger, EventInput):
            scope["event"] = trigger.payload
            scope["meta"] = trigger.meta
        elif isinstance(trigger, SignalInput):
            scope["event"] = trigger.payload
        self._scope = (trigger, self.state, scope)
        return scope

    def action_list(self, p: _PC) -> tuple[Action, ...]:
        if p.phase == "enter":
            return self.program.states[self.state].enter
        if p.phase == "exit":
            return self.program.states[p.origin].exit
        assert p.transition is not None
        transition = self.program.transitions[p.transition]
        if p.phase == "catch":
            assert transition.catch is not None
            return transition.catch.actions
        return transition.actions

    def run_actions(self) -> bool:
        """Run the pending transition on; True when it finished, False when it waits."""
        p = self.pending
        assert p is not None
        actions = self.action_list(p)
        while True:
            if p.call is not None:
                if not calls.done(p.call):
                    return False
                self.finish_call(p.call)
            while p.call is None and p.action_index < len(actions):
                action = actions[p.action_index]
                self.trace.append(f"action {action.id}")
                try:
                    if isinstance(action, SetAction):
                        self.run_set(action, p)
                    else:
                        self.start_call(action, p)
                except ExprError as exc:
                    self.raise_incident(
                        f"action {action.id} failed: {exc.message}", pointer=exc.pointer
                    )
                    return False
            if p.call is not None:
                continue
            if p.phase in ("do", "catch"):
                if p.target is None:
                    return self.finish_transition()
                p.phase, p.action_index = "exit", 0
                actions = self.program.states[p.origin].exit
                if actions:
                    continue
            if p.phase == "exit":
                if self.timers:
                    self.leave_state()
                assert p.target is not None
                self.state = p.target
                self.trace.append(f"enter {p.target}")
                p.phase, p.action_index, p.entered_ms = "enter", 0, self.at_ms
                actions = self.program.states[p.target].enter
                if actions:
                    continue
            return self.finish_entry(p)

    def run_set(self, action: SetAction, p: _PC) -> None:
        scope = self.scope(p.trigger)
        values = []
        for field, expr in action.assign:
            value = expr(scope)
            if type(value) not in _JSON_AS_IS:
                try:
                    value = to_json_value(value)
                except ConversionError as exc:
                    raise ExprError(str(exc), action.pointer) from None
            values.append((field, value))
        for field, value in values:
            self.data[field] = value
            self.dirty.add(field)
        p.action_index += 1

    def start_call(self, action: CallAction, p: _PC) -> None:
        progress = calls.start(action, self.scope(p.trigger), self.seq)
        if self.program.effects[action.effect].kind == "emit":
            progress, emits = calls.emit_all(self.program, progress, self.flow, self.key, self.env)
            self.commands.extend(emits)
        else:
            progress, runs = calls.issue(progress, self.flow, self.key)
            self.commands.extend(runs)
        p.call = progress

    def finish_call(self, progress: CallProgress) -> None:
        p = self.pending
        assert p is not None
        action = self.program.actions[progress.action_id]
        assert isinstance(action, CallAction)
        if action.result is not None:
            self.data[action.result] = calls.collected(progress)
            self.dirty.add(action.result)
        p.call = None
        p.action_index += 1

    # ------------------------------------------------------------ effect results

    def resume(self, inp: Input) -> None:
        """An EffectResult for an outstanding call, or its callback timing out."""
        p = self.pending
        assert p is not None and p.call is not None
        progress = p.call
        if isinstance(inp, TimerInput):
            del self.timers[inp.timer_id]
            cid = inp.timer_id.removeprefix(CALLBACK_TIMER_PREFIX)
            self.trace.append(f"callback timeout {cid}")
            self.call_failed(progress, cid, "callback timed out")
            return
        assert isinstance(inp, EffectResult)
        call = next(c for c in progress.outstanding if c.call_id == inp.call_id)
        effect = self.program.effects[progress.effect]
        callback_timeout = effect.callback_timeout_ms
        if call.awaiting_callback and inp.phase == "call":
            self.trace.append(f"ignored {_describe(inp)} (awaiting its callback)")
            return
        if inp.ok and inp.phase == "call" and callback_timeout is not None:
            self.trace.append(f"accepted {inp.call_id}")
            timer_id = CALLBACK_TIMER_PREFIX + inp.call_id
            due = self.at_ms + callback_timeout
            self.timers[timer_id] = due
            self.commands.append(ArmTimer(timer_id, due))
            self.commands.append(AwaitCallback(inp.call_id, callback_timeout))
            accepted = replace(call, awaiting_callback=True)
            outstanding = tuple(accepted if c is call else c for c in progress.outstanding)
            p.call = replace(progress, outstanding=outstanding)
            return
        if not inp.ok:
            self.trace.append(f"failed {inp.call_id}")
            self.call_failed(progress, inp.call_id, inp.error or "effect failed")
            return
        self.trace.append(f"result {inp.call_id}")
        self.drop_callback_timer(call)
        results = {**progress.results, call.item or 0: inp.value}
        remaining = tuple(c for c in progress.outstanding if c is not call)
        progress = replace(progress, outstanding=remaining, results=results)
        if self.status == "running":
            progress, runs = calls.issue(progress, self.flow, self.key)
            self.commands.extend(runs)
        p.call = progress

    def drop_callback_timer(self, call: OutstandingCall) -> None:
        timer_id = CALLBACK_TIMER_PREFIX + call.call_id
        if timer_id in self.timers:
            del self.timers[timer_id]
            self.commands.append(CancelTimer(timer_id))

    def call_failed(self, progress: CallProgress, cid: str, error: str) -> None:
        """A call failed for good: run the transition's catch, or become an incident."""
        p = self.pending
        assert p is not None
        call = next(c for c in progress.outstanding if c.call_id == cid)
        self.drop_callback_timer(call)
        remaining = tuple(c for c in progress.outstanding if c is not call)
        transition = None if p.transition is None else self.program.transitions[p.transition]
        catch = None if transition is None else transition.catch
        if self.status == "running" and p.phase == "do" and catch is not None:
            assert transition is not None
            for other in remaining:
                self.drop_callback_timer(other)
            self.trace.append(f"catch {transition.id}")
            p.phase, p.action_index, p.call, p.target = "catch", 0, None, catch.target
            return
        p.call = replace(progress, outstanding=remaining, failed=(*progress.failed, call))
        if self.status != "incident":
            self.raise_incident(
                f"effect {progress.effect!r} failed in {progress.action_id}: {error}", call_id=cid
            )

    # ------------------------------------------------------------ states and timers

    def leave_state(self) -> None:
        """Cancel the timers of the state being left (callback timeouts are not its own)."""
        for timer_id in [t for t in self.timers if not t.startswith(CALLBACK_TIMER_PREFIX)]:
            del self.timers[timer_id]
            self.commands.append(CancelTimer(timer_id))

    def finish_entry(self, p: _PC) -> bool:
        """The enter actions are done: complete a final state, or arm the state's timers."""
        state = self.program.states[self.state]
        if state.final:
            return self.finish_transition(final=True)
        if state.timers and not self.arm_timers(state.timers, p):
            return False
        return self.finish_transition()

    def arm_timers(self, timers: tuple[Timer, ...], p: _PC) -> bool:
        """Arm the timers of the state just entered; False when a time failed (an incident)."""
        entered = self.at_ms if p.entered_ms is None else p.entered_ms
        dues: list[tuple[str, int]] = []
        for timer in timers:
            if timer.time is None:
                dues.append((timer.id, entered + timer.delay_ms))
                continue
            try:
                due = _due_ms(timer.time(self.scope(p.trigger)), timer.pointer + "/time")
                dues.append((timer.id, due))
            except ExprError as exc:
                self.raise_incident(
                    f"timer {timer.id} time failed: {exc.message}", pointer=exc.pointer
                )
                return False
        for timer_id, due in dues:
            self.timers[timer_id] = due
            self.commands.append(ArmTimer(timer_id, due))
        return True

    def finish_transition(self, *, final: bool = False) -> bool:
        """The pending transition is done: check data, then complete or become active."""
        p = self.pending
        assert p is not None
        self.pending = None
        problems = self.program.validate_data(self.data, self.dirty)
        self.dirty.clear()
        if problems:
            self.status = "active"
            what = "entering the initial state" if p.transition is None else p.transition
            self.raise_incident(
                describe(problems, what),
                pointer=_data_pointer(problems),
                retry_input=p.then_input,
            )
            return False
        if final:
            self.complete()
            return False
        self.status = "active"
        self.queued = p.then_input
        return True

    def complete(self) -> None:
        self.status = "completed"
        for timer_id in list(self.timers):
            self.commands.append(CancelTimer(timer_id))
        self.timers.clear()
        self.deferred.clear()
        self.queued = None
        self.trace.append("completed")
        self.commands.append(Completed())

    # ------------------------------------------------------------ incidents and operators

    def raise_incident(
        self,
        reason: str,
        *,
        pointer: str | None = None,
        call_id: str | None = None,
        retry_input: Input | None = None,
    ) -> None:
        self.status = "incident"
        self.incident = Incident(
            reason=reason,
            at_ms=self.at_ms,
            call_id=call_id,
            pointer=pointer,
            retry_input=retry_input,
        )
        self.trace.append("incident")
        self.commands.append(IncidentRaised(reason))

    def retry(self) -> None:
        """RetryIncident: re-issue failed calls, resume the transition, or re-apply the input."""
        incident = self.incident
        self.incident = None
        self.trace.append("retry")
        p = self.pending
        if p is not None:
            self.status = "running"
            if p.call is not None:
                progress, runs = p.call, list[RunEffect]()
                if p.call.failed:
                    progress, runs = calls.reissue(p.call, self.flow, self.key)
                progress, more = calls.issue(progress, self.flow, self.key)
                self.commands.extend((*runs, *more))
                p.call = progress
            return
        self.status = "active"
        if incident is not None and incident.retry_input is not None:
            self.offer(incident.retry_input, retried=True)
            return
        problems = self.program.validate_data(self.data)
        if problems:
            self.raise_incident(
                describe(problems, "an operator retry"), pointer=_data_pointer(problems)
            )

    def cancel(self, inp: Cancel) -> None:
        if self.status in ("completed", "cancelled"):
            self.trace.append(f"ignored cancel ({self.status})")
            return
        self.trace.append("cancelled")
        for timer_id in list(self.timers):
            self.commands.append(CancelTimer(timer_id))
        self.timers.clear()
        self.deferred.clear()
        self.pending = None
        self.queued = None
        self.status = "cancelled"


def _describe(inp: Input) -> str:
    if isinstance(inp, NAMED_INPUTS):
        return f"{inp.kind} {inp.name}"
    if isinstance(inp, TimerInput):
        return f"timer {inp.timer_id}"
    if isinstance(inp, EffectResult):
        return f"result {inp.call_id}"
    return inp.kind


def _due_ms(value: Any, pointer: str) -> int:
    """An `at` time: a timestamp, an RFC 3339 string or epoch milliseconds."""
    if isinstance(value, Timestamp):
        return value.ms
    if isinstance(value, str):
        try:
            return parse_timestamp(value).ms
        except ConversionError as exc:
            raise ExprError(str(exc), pointer) from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ExprError(f"an 'at' time must be a timestamp, not a {type_name(value)}", pointer)


def _data_pointer(problems: list[DataProblem]) -> str:
    field = problems[0].field
    return "/data" if field is None else pointer_join("/data", field)
