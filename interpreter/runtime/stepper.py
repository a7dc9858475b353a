"""Running one key: pick the next input its instance accepts, step, commit, act.

The scheduler guarantees one `KeyStepper.run` per key at a time. A turn takes
the snapshot and the ready inbox rows from memory (this process is the only
writer; see `InboxCache`), calls the pure `step` for each row the instance
accepts, makes all those steps durable with one `store.commit_steps` (group
commit batches many keys' turns into one transaction) and only then performs
the commands: start effect tasks, wake the timer task and the outbox relay,
report the transitions.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .. import storable
from ..core import new_data, step
from ..immutable import immutable
from ..model import (
    NAMED_INPUTS,
    ArmTimer,
    Command,
    Completed,
    Emit,
    EventInput,
    Incident,
    IncidentRaised,
    Input,
    Instance,
    RunEffect,
    StepResult,
)
from ..storable import Bounds
from ..store import ConflictError, DeadLetter, InboxRow, JsonObject, StepCommit, Store
from .clock import Clock
from .commits import step_commit
from .inbox import InboxCache, QueuedInput
from .versions import LoadedVersion, UnknownVersionError, VersionRegistry

log = logging.getLogger("flowyard.runtime.steps")

KeyId = tuple[str, str]


@immutable
class Transition:
    """One committed step, as reported to `on_transition`."""

    flow: str
    key: str
    input: Input
    result: StepResult
    ir_hash: str


@immutable(kw_only=True)
class StepHooks:
    """What the stepper asks of the rest of the runtime after a commit."""

    run_effects: Callable[[LoadedVersion, Instance, list[RunEffect]], None]
    stepped: Callable[[Instance], None]
    """After every committed step, with the instance as it now is."""
    timers_changed: Callable[[], None]
    emitted: Callable[[], None]
    on_transition: Callable[[Transition], None] | None = None
    on_dead_letter: Callable[[str, str], None] | None = None
    """`(source, reason)` of an input a step took out as a dead letter."""


class InstanceCache:
    """Snapshots by key, least recently used dropped first."""

    def __init__(self, store: Store, capacity: int) -> None:
        self._store = store
        self._capacity = capacity
        self._items: OrderedDict[KeyId, Instance] = OrderedDict()

    async def get(self, kid: KeyId) -> Instance | None:
        """The current snapshot of `kid`, or None if the key has no instance."""
        cached = self._items.get(kid)
        if cached is not None:
            self._items.move_to_end(kid)
            return cached
        row = await self._store.load_instance(*kid)
        if row is None:
            return None
        instance = Instance.from_json(row.snapshot)
        self.put(instance)
        return instance

    async def load_many(self, kids: Sequence[KeyId]) -> dict[KeyId, Instance]:
        """The snapshots of those of `kids` that have an instance: from memory,
        and the others with one store read. Those read are not kept: only for
        keys nobody else is stepping (claimed ones) is a snapshot read now
        still current when the caller uses it."""
        found: dict[KeyId, Instance] = {}
        missing: list[KeyId] = []
        for kid in kids:
            cached = self._items.get(kid)
            if cached is None:
                missing.append(kid)
            else:
                found[kid] = cached
        if missing:
            for row in await self._store.load_instances(missing):
                found[(row.flow, row.key)] = Instance.from_json(row.snapshot)
        return found

    def cached(self, kid: KeyId) -> Instance | None:
        """The snapshot of `kid` if it is in memory (None says nothing about the store)."""
        return self._items.get(kid)

    def put(self, instance: Instance) -> None:
        kid = (instance.flow, instance.key)
        self._items[kid] = instance
        self._items.move_to_end(kid)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def drop(self, kid: KeyId) -> None:
        self._items.pop(kid, None)

    def drop_where(self, which: Callable[[KeyId], bool]) -> None:
        """Drop the snapshots of the keys for which `which` is true."""
        for kid in [k for k in self._items if which(k)]:
            del self._items[kid]


@immutable
class PendingStep:
    """One step, computed and not yet durable."""

    version: LoadedVersion
    input: Input
    result: StepResult
    commit: StepCommit


class KeyStepper:
    """Applies a key's ready inbox rows, in arrival order, as its instance accepts them.

    One turn steps through every acceptable row (up to `steps_per_turn`) in
    memory, makes all those steps durable in one commit, and only then performs
    their commands, in order.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        versions: VersionRegistry,
        cache: InstanceCache,
        hooks: StepHooks,
        *,
        inbox: InboxCache,
        env: Mapping[str, str],
        steps_per_turn: int,
        max_data_bytes: int = Bounds().max_data_bytes,
    ) -> None:
        self._store = store
        self._clock = clock
        self._versions = versions
        self._cache = cache
        self._inbox = inbox
        self._hooks = hooks
        self._env = env
        self._steps_per_turn = steps_per_turn
        self._max_data_bytes = max_data_bytes
        self._secret: bytes | None = None
        self.steps = 0
        """Steps committed since start (for tests and benchmarks)."""

    async def run(self, kid: KeyId) -> bool:
        """Take one turn of `kid`; True if it stopped early, with acceptable input
        left, to give other keys a turn."""
        try:
            instance = await self._cache.get(kid)
            rows = await self._inbox.ready(kid, self._clock.now_ms())
            steps: list[PendingStep] = []
            while len(steps) < self._steps_per_turn:
                found = self._next(instance, rows)
                if found is None:
                    break
                rows.remove(found)
                inp = found.input
                assert inp is not None
                refusal = self._refusal(kid, inp) if instance is None else None
                if refusal is not None:
                    await self._refuse(kid, found.row, inp, refusal)
                    continue
                taken = self._step(kid, instance, found.row.id, inp)
                if taken is not None:
                    steps.append(taken)
                    instance = taken.result.instance
            if not steps:
                return False
            await self._store.commit_steps([taken.commit for taken in steps])
        except ConflictError:
            # The store disagrees with what is held in memory: reload and look again.
            log.warning("commit conflict for %s/%s; reloading", *kid, exc_info=True)
            self._cache.drop(kid)
            self._inbox.forget(kid)
            return True
        self._inbox.consumed(kid, [i for taken in steps for i in taken.commit.consumed])
        self.settle(steps)
        assert instance is not None
        return len(steps) >= self._steps_per_turn and self._next(instance, rows) is not None

    def step_arrivals(
        self,
        kid: KeyId,
        instance: Instance | None,
        inputs: Sequence[Input],
        journaled: Sequence[JsonObject] = (),
    ) -> list[PendingStep]:
        """Step `kid` through `inputs` as they arrive, in order, while its instance
        accepts them (at most `steps_per_turn`); none of it durable yet.

        For a key with nothing in its inbox and not being stepped, whose
        snapshot is `instance` (None: none in memory, so the steps start one;
        the store refuses them if it holds one). An input that would start no
        instance stops the steps: the inbox path makes it a dead letter.
        `journaled` may give each input's JSON (`Input.to_json`), made already.
        """
        steps: list[PendingStep] = []
        for index, inp in enumerate(inputs[: self._steps_per_turn]):
            if instance is None:
                if self._refusal(kid, inp) is not None:
                    break
            elif not instance.accepts(inp):
                break
            # Applied as it arrives: `now` is when it arrived.
            as_json = journaled[index] if index < len(journaled) else None
            taken = self._step(kid, instance, None, inp, now=inp.at_ms, input_json=as_json)
            if taken is None:
                break
            steps.append(taken)
            instance = taken.result.instance
        return steps

    def settle(self, steps: Sequence[PendingStep]) -> None:
        """`steps`, one key's in order, are durable: keep the snapshot and act on them."""
        if not steps:
            return
        self.steps += len(steps)
        self._cache.put(steps[-1].result.instance)
        for taken in steps:
            self._perform(taken.version, taken.result.instance, taken.input, taken.result)

    def _next(self, instance: Instance | None, rows: list[QueuedInput]) -> QueuedInput | None:
        for q in rows:
            inp = q.input
            if inp is None:
                log.error(
                    "inbox row %d of %s/%s is not an input; skipped",
                    q.row.id,
                    q.row.flow,
                    q.row.key,
                )
                continue
            if instance is None or instance.accepts(inp):
                return q
        return None

    def _refusal(self, kid: KeyId, inp: Input) -> str | None:
        """Why `inp` may not create `kid`'s instance, if it may not: an event or
        signal its initial state does not take must not leave an instance behind."""
        flow, key = kid
        version = self._versions.current(flow)
        if not isinstance(inp, NAMED_INPUTS) or version is None:
            return None
        program = version.program
        if program.starts_instance(inp.name):
            return None
        kind = "event" if isinstance(inp, EventInput) else "signal"
        return (
            f"{flow}/{key} has no instance, and its initial state {program.initial!r} neither "
            f"handles nor defers the {kind} {inp.name!r}: no instance was started "
            f"(send the event that starts {flow} first, or defer {inp.name!r} "
            f"in {program.initial!r})"
        )

    async def _refuse(self, kid: KeyId, row: InboxRow, inp: Input, reason: str) -> None:
        assert isinstance(inp, NAMED_INPUTS)
        flow, key = kid
        meta = inp.meta if isinstance(inp, EventInput) else {}
        topic, record_key = meta.get("topic"), meta.get("key")
        letter = DeadLetter(
            source=row.source or f"inbox:{flow}/{key}#{row.id}",
            topic=topic if isinstance(topic, str) else None,
            reason=reason,
            payload=json.dumps(inp.payload, default=str),
            at_ms=self._clock.now_ms(),
            record_key=record_key.encode() if isinstance(record_key, str) else None,
        )
        await self._store.refuse_input(flow, key, row.id, letter)
        self._inbox.consumed(kid, [row.id])
        if self._hooks.on_dead_letter is not None:
            self._hooks.on_dead_letter(letter.source, reason)
        else:
            log.warning("dead letter: %s", reason)

    def _step(
        self,
        kid: KeyId,
        instance: Instance | None,
        inbox_id: int | None,
        inp: Input,
        *,
        now: int | None = None,
        input_json: JsonObject | None = None,
    ) -> PendingStep | None:
        flow, key = kid
        version = self._version(flow, instance)
        if version is None:
            log.error("no program for %s/%s; its input waits in the inbox", flow, key)
            return None
        if now is None:
            now = self._clock.now_ms()
        # `now` in expressions is when the input is applied: an event that
        # waited in the inbox must not arm timers in the past.
        if inp.at_ms < now:
            inp = replace(inp, at_ms=now)
            input_json = None
        try:
            result = step(version.program, instance, inp, key=key, env=self._env)
        except Exception as exc:
            log.exception("step failed for %s/%s; the instance becomes an incident", flow, key)
            reason = _internal_error(inp, exc)
            result = _failed_step(version, instance, key, inp, reason, "internal error")
        else:
            refused = unstorable(result, self._max_data_bytes)
            if refused is not None:
                log.warning("%s/%s: %s; the instance becomes an incident", flow, key, refused)
                result = _failed_step(version, instance, key, inp, refused, "not storable")
        commit = step_commit(
            result,
            inp,
            input_json=input_json,
            inbox_id=inbox_id,
            now_ms=now,
            program=version.program,
            secret=self._callback_secret(),
        )
        return PendingStep(version, inp, result, commit)

    def _callback_secret(self) -> bytes:
        # Read once: the store may be a wrapper that forwards every attribute
        # read (`metrics.MeteredStore`), a cost on every step.
        if self._secret is None:
            self._secret = self._store.callback_secret
        return self._secret

    def _version(self, flow: str, instance: Instance | None) -> LoadedVersion | None:
        if instance is None:
            return self._versions.current(flow)
        try:
            return self._versions.by_hash(instance.ir_hash)
        except UnknownVersionError:
            return None

    def _perform(
        self, version: LoadedVersion, instance: Instance, inp: Input, result: StepResult
    ) -> None:
        self._hooks.stepped(instance)
        if result.commands:
            self._command(version, instance, result.commands)
        if self._hooks.on_transition is not None:
            try:
                # Positional: built for every step (see `immutable`).
                self._hooks.on_transition(
                    Transition(instance.flow, instance.key, inp, result, version.hash)
                )
            except Exception:
                log.exception("on_transition callback failed")

    def _command(
        self, version: LoadedVersion, instance: Instance, commands: Sequence[Command]
    ) -> None:
        """Carry out a durable step's commands (most steps have none)."""
        effects = [c for c in commands if isinstance(c, RunEffect)]
        if effects:
            self._hooks.run_effects(version, instance, effects)
        if any(isinstance(c, ArmTimer) for c in commands):
            self._hooks.timers_changed()
        if any(isinstance(c, Emit) for c in commands):
            self._hooks.emitted()
        for command in commands:
            if isinstance(command, IncidentRaised):
                log.warning("%s/%s is an incident: %s", instance.flow, instance.key, command.reason)
            elif isinstance(command, Completed):
                log.info("%s/%s completed in %s", instance.flow, instance.key, instance.state)


def unstorable(result: StepResult, max_data_bytes: int) -> str | None:
    """Why the store could not hold what a step computed, or None: data (or an
    emitted value, or an effect's arguments) it cannot encode, or data over
    `max_data_bytes`. Such a step must not be committed: it would fail again on
    every retry of its key."""
    refused = storable.refusal(
        result.instance.data,
        max_data_bytes,
        "the instance's data",
        option="flowd run --max-data-bytes",
        floats=False,
    )
    if refused is not None:
        return f"the step computed data that cannot be kept: {refused}"
    for command in result.commands:
        value: Any = None
        if isinstance(command, Emit):
            value = [command.key, command.value, command.headers]
        elif isinstance(command, RunEffect):
            value = command.args
        problem = storable.problem(value, floats=False)
        if problem is not None:
            return f"the step computed a value that cannot be stored: {problem}"
    return None


def _internal_error(inp: Input, exc: Exception) -> str:
    return storable.clean_text(
        f"internal error while applying {inp.kind}: {type(exc).__name__}: {exc}"
    )


def _failed_step(  # noqa: PLR0917 - what the incident is made of
    version: LoadedVersion,
    instance: Instance | None,
    key: str,
    inp: Input,
    reason: str,
    trace: str,
) -> StepResult:
    """A step that raised (a bug, not an input's fault) or computed what cannot
    be stored: park the instance as an incident, its data as before the step."""
    incident = Incident(reason=reason, at_ms=inp.at_ms, retry_input=inp)
    if instance is None:
        program = version.program
        after = Instance(
            flow=program.flow,
            key=key,
            ir_hash=program.hash,
            seq=1,
            state=program.initial,
            status="incident",
            data=new_data(program),
            incident=incident,
        )
    else:
        after = replace(instance, seq=instance.seq + 1, status="incident", incident=incident)
    return StepResult(after, (IncidentRaised(reason),), (trace,))
