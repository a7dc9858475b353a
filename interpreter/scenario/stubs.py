"""Stubbed effects: the runtime's `effect_overrides`, fed from a scenario's `stubs`.

Each attempt of a stubbed effect takes the first outcome, in the order
written, that has uses left and whose `when` matches the call's args. The
outcome then behaves like the real effect would: it returns a result, raises
(an error, an HTTP status, a timeout), and for effects completing by callback
it may say how the callback resolves. Everything else (attempt counting,
retries, backoff, idempotency keys, journaling) is the real runtime's.

An attempt with no outcome left fails for good and is reported as a problem
of the scenario, so a stub list that runs out never passes silently. HTTP
effects without a stub fail the same way: scenarios never send real requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..runtime.effects import EffectContext, EffectError
from ..runtime.effects.http import HttpStatusError
from ..runtime.effects.python import PythonEffect
from .matching import difference, show
from .spec import EffectStub, StubOutcome, Where


@dataclass(frozen=True, slots=True)
class StubProblem:
    """Something a stub could not do (reported as a failure of the running step)."""

    where: Where
    message: str


@dataclass(frozen=True, slots=True)
class PlannedCallback:
    """A callback a stub promised for one call, resolved once the call awaits it."""

    call_id: str
    token: str
    value: Any
    error: str | None


class StubBook:
    """The outcomes left per effect, the problems met, and the callbacks promised."""

    def __init__(self, stubs: Mapping[str, EffectStub]) -> None:
        self._stubs = dict(stubs)
        self._left: dict[str, list[int | None]] = {
            name: [o.times for o in stub.outcomes] for name, stub in stubs.items()
        }
        self.problems: list[StubProblem] = []
        self.callbacks: dict[str, PlannedCallback] = {}

    def overrides(self, http_effects: set[str], where: Where) -> dict[str, PythonEffect]:
        """Overrides for every stubbed effect, and failing ones for unstubbed HTTP effects."""
        result: dict[str, PythonEffect] = {}
        for name, stub in self._stubs.items():
            if not stub.emit_marker:
                result[name] = self._stubbed(name)
        for name in sorted(http_effects - set(self._stubs)):
            result[name] = self._unstubbed(name, where)
        return result

    def take_problems(self) -> list[StubProblem]:
        """The problems met since the last call."""
        problems, self.problems = self.problems, []
        return problems

    def _pick(self, effect: str, args: Any) -> StubOutcome | None:
        stub = self._stubs[effect]
        left = self._left[effect]
        for index, outcome in enumerate(stub.outcomes):
            uses = left[index]
            if uses is not None and uses <= 0:
                continue
            if outcome.when is not None and difference(outcome.when, args) is not None:
                continue
            if uses is not None:
                left[index] = uses - 1
            return outcome
        return None

    def _stubbed(self, effect: str) -> PythonEffect:
        async def run(args: Any, ctx: EffectContext) -> Any:
            outcome = self._pick(effect, args)
            if outcome is None:
                message = (
                    f"stubs.{effect} ran out: no outcome left for attempt {ctx.attempt} of call "
                    f"{ctx.call_id} with args {show(args)}; add outcomes (or `times:`) to the stub"
                )
                self.problems.append(StubProblem(self._stubs[effect].where, message))
                raise EffectError(message, retryable=False)
            return self._perform(outcome, ctx)

        return run

    def _perform(self, outcome: StubOutcome, ctx: EffectContext) -> Any:
        if outcome.kind == "error":
            raise EffectError(str(outcome.value), retryable=not outcome.fatal)
        if outcome.kind == "status":
            status = outcome.status or 500
            raise HttpStatusError(status, {"status": status, "headers": {}, "body": outcome.value})
        if outcome.kind == "timeout":
            raise TimeoutError(f"stubbed timeout of {ctx.effect}")
        if outcome.has_callback:
            if ctx.callback_token is None:
                message = f"stubs.{ctx.effect}: the effect has no callback, but the stub gives one"
                self.problems.append(StubProblem(outcome.where, message))
            else:
                self.callbacks[ctx.call_id] = PlannedCallback(
                    ctx.call_id, ctx.callback_token, outcome.callback, outcome.callback_error
                )
        return outcome.value

    def _unstubbed(self, effect: str, where: Where) -> PythonEffect:
        async def run(args: Any, ctx: EffectContext) -> Any:
            message = (
                f"effect {effect!r} is an http effect with no stub (call {ctx.call_id}, "
                f"args {show(args)}); scenarios never send real requests: add stubs.{effect}"
            )
            self.problems.append(StubProblem(where, message))
            raise EffectError(message, retryable=False)

        return run
