"""Runs effect calls: attempts, timeouts, backoff, and the final result.

Each call runs as its own task, so a slow call never holds up anything else.
Every attempt is recorded (`effect_attempts`) with the call's one idempotency
key; between attempts the call is `pending` with `next_attempt_ms`, so a
restart resumes the backoff instead of starting over. The final outcome goes
back to the instance as an `EffectResult` input through the inbox, stored in
the same transaction as the call's final status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp

from ... import storable
from ...expr import ExprError
from ...model import EffectResult
from ...store import (
    ConflictError,
    EffectAttempt,
    EffectCallUpdate,
    InboxItem,
    Store,
    StoreClosedError,
    StoreError,
)
from ..activity import Activity
from ..clock import Clock
from .context import EffectContext, EffectError
from .http import HttpEffectRunner, HttpRequest, HttpStatusError
from .python import EffectLoadError, PythonEffect, PythonEffectLoader
from .retry import AttemptFailure, RetryPolicy

log = logging.getLogger("flowyard.runtime.effects")

STORE_RETRY_FIRST_S = 0.2
STORE_RETRY_MAX_S = 30.0
"""Real seconds between attempts to record an effect's progress while the store fails."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSpec:
    """One effect call to run, as the engine hands it over (fresh or recovered)."""

    flow: str
    key: str
    call_id: str
    effect_name: str
    effect: Mapping[str, Any]
    """The IR effect definition (`kind`, `python`/`http`, `timeout_ms`, `retry`, ...)."""
    args: Any
    idempotency_key: str
    ir_hash: str
    attempts_done: int = 0
    next_attempt_ms: int | None = None
    callback_url: str | None = None
    callback_token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOutcome:
    """The final result of a call, as the engine feeds it back."""

    ok: bool
    value: Any = None
    error: str | None = None
    attempts: int = 0


RenderHttp = Callable[[CallSpec], HttpRequest]
Deliver = Callable[[CallSpec, InboxItem, EffectCallUpdate], Awaitable[None]]


@dataclass(slots=True)
class EffectRunner:
    """Starts and tracks effect call tasks."""

    store: Store
    clock: Clock
    activity: Activity
    render_http: RenderHttp
    deliver: Deliver
    loader: PythonEffectLoader = field(default_factory=PythonEffectLoader)
    http: HttpEffectRunner = field(default_factory=HttpEffectRunner)
    overrides: Mapping[str, PythonEffect] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    max_result_bytes: int = storable.Bounds().max_result_bytes
    """The largest result an effect may return, as JSON text; larger fails the call."""
    backoff_is_idle: bool = False
    """Whether a call waiting out its backoff counts as idle: true under a
    virtual clock (only advancing time moves it on), false under a real one
    (the call is still in flight)."""
    max_attempts_running: int | None = None
    """At most this many attempts run at once, across all effects (None: no
    bound); calls beyond it wait for a slot, in the order they asked. An
    effect declared with `concurrency: N` also runs at most N at once."""
    _slots: asyncio.Semaphore | None = None
    _effect_slots: dict[tuple[str, str], asyncio.Semaphore] = field(default_factory=dict)
    """Per effect with `concurrency` in its declaration: its calls' slots."""
    _running: int = 0
    _waiting: int = 0
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _by_key: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _abandoned: set[str] = field(default_factory=set)

    @property
    def in_flight(self) -> int:
        """Calls started and not yet delivered."""
        return len(self._tasks)

    @property
    def attempts_running(self) -> int:
        """Attempts running now (at most `max_attempts_running`)."""
        return self._running

    @property
    def waiting_for_slot(self) -> int:
        """Calls started that neither run an attempt nor back off: waiting for a slot."""
        return self._waiting

    def _slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.max_attempts_running is None:
            return contextlib.nullcontext()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_attempts_running)
        return self._slots

    def _effect_slot(self, spec: CallSpec) -> contextlib.AbstractAsyncContextManager[Any]:
        """The effect's own bound (`concurrency` in its declaration), if it has one."""
        bound = spec.effect.get("concurrency")
        if not isinstance(bound, int) or bound < 1:
            return contextlib.nullcontext()
        slot = self._effect_slots.get((spec.flow, spec.effect_name))
        if slot is None:
            slot = self._effect_slots[(spec.flow, spec.effect_name)] = asyncio.Semaphore(bound)
        return slot

    def start(self, spec: CallSpec) -> None:
        """Run `spec` in its own task (a second start of the same call id is ignored)."""
        if spec.call_id in self._tasks:
            return
        task = asyncio.create_task(self._run(spec), name=f"effect:{spec.call_id}")
        self._tasks[spec.call_id] = task
        kid = (spec.flow, spec.key)
        self._by_key.setdefault(kid, set()).add(spec.call_id)
        # The task holds one activity unit from now until it is done (except
        # while it backs off under a virtual clock, see `_sleep`).
        self.activity.enter()
        task.add_done_callback(partial(self._forget, kid, spec.call_id))

    def _forget(self, kid: tuple[str, str], call_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(call_id, None)
        self._abandoned.discard(call_id)
        calls = self._by_key.get(kid)
        if calls is not None:
            calls.discard(call_id)
            if not calls:
                del self._by_key[kid]
        self.activity.leave()

    def has_running(self, flow: str, key: str) -> bool:
        """Whether some call of `flow/key` is running (or waiting to retry)."""
        return (flow, key) in self._by_key

    def abandon(self, flow: str, key: str, awaited: Collection[str]) -> list[str]:
        """Stop the running calls of `flow/key` that are not in `awaited` (the
        instance was cancelled, or left the transition that made them); each
        is recorded as failed. Returns their call ids."""
        running = self._by_key.get((flow, key))
        if not running:
            return []
        dropped = sorted(c for c in running if c not in awaited and c not in self._abandoned)
        for call_id in dropped:
            self._abandoned.add(call_id)
            self._tasks[call_id].cancel()
        return dropped

    async def _sleep(self, due_ms: int) -> None:
        if not self.backoff_is_idle:
            await self.clock.sleep_until(due_ms)
            return
        self.activity.leave()
        try:
            await self.clock.sleep_until(due_ms)
        finally:
            self.activity.enter()

    async def cancel_where(self, which: Callable[[tuple[str, str]], bool]) -> None:
        """Cancel the running calls of the keys for which `which` is true; they
        stay pending/running in the store, to be re-issued by whoever steps
        those keys next, with the same idempotency key."""
        tasks = [
            self._tasks[call_id]
            for kid, calls in self._by_key.items()
            if which(kid)
            for call_id in calls
            if call_id in self._tasks
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def cancel_all(self) -> None:
        """Cancel every running call; they stay pending/running in the store and
        are re-issued, with the same idempotency key, on the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.http.close()
        self.loader.close()

    async def _run(self, spec: CallSpec) -> None:
        policy = RetryPolicy.from_ir(spec.effect.get("retry"))
        timeout_ms = int(spec.effect.get("timeout_ms") or 30_000)
        attempt = spec.attempts_done
        if spec.next_attempt_ms is not None:
            await self._sleep(spec.next_attempt_ms)
        try:
            while True:
                attempt += 1
                value, failure, started = await self._attempt_in_slot(spec, attempt, timeout_ms)
                finished = self.clock.now_ms()
                finished_attempt = EffectAttempt(
                    call_id=spec.call_id,
                    attempt=attempt,
                    idempotency_key=spec.idempotency_key,
                    started_ms=started,
                    finished_ms=finished,
                    outcome="ok" if failure is None else failure.kind,
                    error=None if failure is None else failure.message,
                )
                if failure is None:
                    await self._durably(self.store.record_attempt, finished_attempt)
                    await self._finish(spec, CallOutcome(ok=True, value=value, attempts=attempt))
                    return
                final = attempt >= policy.attempts or not policy.should_retry(failure)
                log.warning(
                    "effect %s (%s) attempt %d of %d failed (%s): %s%s",
                    spec.effect_name,
                    spec.call_id,
                    attempt,
                    policy.attempts,
                    failure.kind,
                    failure.message,
                    ""
                    if attempt >= policy.attempts
                    else "; not retried"
                    if final
                    else "; retrying",
                )
                if final:
                    await self._durably(self.store.record_attempt, finished_attempt)
                    outcome = CallOutcome(
                        ok=False, value=value, error=failure.message, attempts=attempt
                    )
                    await self._finish(spec, outcome)
                    return
                due = finished + policy.delay_ms(attempt, self.rng)
                await self._durably(
                    self.store.record_attempt,
                    finished_attempt,
                    EffectCallUpdate(
                        call_id=spec.call_id, status="pending", at_ms=finished, next_attempt_ms=due
                    ),
                )
                await self._sleep(due)
        except asyncio.CancelledError:
            if spec.call_id not in self._abandoned:
                raise
            await self._record_abandoned(spec)
        except Exception:
            # A store failure: the call stays pending/running and is re-issued on restart.
            log.exception("effect call %s could not be recorded", spec.call_id)

    async def _attempt_in_slot(
        self, spec: CallSpec, attempt: int, timeout_ms: int
    ) -> tuple[Any, AttemptFailure | None, int]:
        """Wait for a slot, record the attempt's start, run it: (value, failure, started)."""
        self._waiting += 1
        waiting = True
        try:
            # The effect's own slot first: a call waiting for it holds no global slot.
            async with self._effect_slot(spec), self._slot():
                self._waiting -= 1
                waiting = False
                self._running += 1
                try:
                    started = self.clock.now_ms()
                    await self._durably(
                        self.store.record_attempt,
                        EffectAttempt(
                            call_id=spec.call_id,
                            attempt=attempt,
                            idempotency_key=spec.idempotency_key,
                            started_ms=started,
                        ),
                        EffectCallUpdate(
                            call_id=spec.call_id, status="running", at_ms=started, attempts=attempt
                        ),
                    )
                    value, failure = await self._attempt(spec, attempt, started + timeout_ms)
                    return value, failure, started
                finally:
                    self._running -= 1
        finally:
            if waiting:
                self._waiting -= 1

    async def _durably(self, write: Callable[..., Awaitable[None]], *args: Any) -> None:
        """`write(*args)` until the store takes it: a store that fails for a while
        (a full disk, an I/O error) delays the call's progress but loses nothing,
        and needs no restart. A conflict or a closed store is no passing trouble
        and is raised."""
        delay = STORE_RETRY_FIRST_S
        while True:
            try:
                await write(*args)
                return
            except (ConflictError, StoreClosedError):
                raise
            except StoreError as exc:
                log.warning("the store refused an effect write (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)

    async def _record_abandoned(self, spec: CallSpec) -> None:
        log.info("effect %s (%s) abandoned", spec.effect_name, spec.call_id)
        now = self.clock.now_ms()
        reason = "abandoned: the instance no longer awaits this call"
        updates = [
            EffectCallUpdate(
                call_id=spec.call_id, status="failed", at_ms=now, error=reason, only_from=status
            )
            for status in ("pending", "running")
        ]
        try:
            await self.store.update_effect_calls(updates)
        except Exception:
            # Left pending/running: the next start finds it not awaited and abandons it then.
            log.exception("abandoning effect call %s could not be recorded", spec.call_id)

    async def _finish(self, spec: CallSpec, outcome: CallOutcome) -> None:
        now = self.clock.now_ms()
        result = EffectResult(spec.call_id, outcome.ok, outcome.value, outcome.error, "call", now)
        item = InboxItem(flow=spec.flow, key=spec.key, input=result.to_json(), received_ms=now)
        update = EffectCallUpdate(
            call_id=spec.call_id,
            status="succeeded" if outcome.ok else "failed",
            at_ms=now,
            attempts=outcome.attempts,
            result={"value": outcome.value},
            error=outcome.error,
        )
        await self._durably(self.deliver, spec, item, update)

    async def _attempt(
        self, spec: CallSpec, attempt: int, deadline_ms: int
    ) -> tuple[Any, AttemptFailure | None]:
        """Run one attempt until `deadline_ms` (by the clock); (value, None) on success."""
        work = asyncio.ensure_future(self._invoke(spec, attempt))
        timer = asyncio.ensure_future(self.clock.sleep_until(deadline_ms))
        try:
            await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
            late_ms = self.clock.now_ms() - deadline_ms
            if late_ms > 0 and work.done():
                # The attempt returned after its deadline: it held the event loop
                # (a coroutine that blocks), so the timer could not fire first.
                return None, self._blocked(spec, late_ms)
        finally:
            timer.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
            elif not work.cancelled():
                work.exception()  # retrieved, even when we are being cancelled ourselves
        if work.cancelled():
            timeout_ms = spec.effect.get("timeout_ms")
            return None, AttemptFailure(kind="timeout", message=f"timed out after {timeout_ms}ms")
        exc = work.exception()
        if exc is None:
            return work.result(), None
        return _failure_of(exc)

    def _blocked(self, spec: CallSpec, late_ms: int) -> AttemptFailure:
        message = (
            f"timed out: it ran {late_ms}ms past its timeout of {spec.effect.get('timeout_ms')}ms "
            "while holding the event loop (an async effect that blocks, e.g. time.sleep or "
            "blocking I/O; declare a blocking effect with a plain `def` so it runs in a thread)"
        )
        log.warning("effect %s (%s) %s", spec.effect_name, spec.call_id, message)
        return AttemptFailure(kind="timeout", message=message)

    async def _invoke(self, spec: CallSpec, attempt: int) -> Any:
        ctx = EffectContext(
            flow=spec.flow,
            key=spec.key,
            effect=spec.effect_name,
            call_id=spec.call_id,
            idempotency_key=spec.idempotency_key,
            attempt=attempt,
            callback_url=spec.callback_url,
            callback_token=spec.callback_token,
        )
        override = self.overrides.get(spec.effect_name)
        if override is not None:
            return self._checked(await override(spec.args, ctx))
        kind = spec.effect.get("kind")
        if kind == "python":
            target = spec.effect["python"]
            fn = self.loader.load(str(target["module"]), str(target["function"]))
            return self._checked(await fn(spec.args, ctx))
        if kind == "http":
            request = self.render_http(spec)
            return self._checked(
                await self.http.send(request, spec.idempotency_key, self.max_result_bytes)
            )
        raise EffectError(f"effect kind {kind!r} cannot be run as a call", retryable=False)

    def _checked(self, value: Any) -> Any:
        """`value` if it can be stored and is within `max_result_bytes`; else the
        call fails, without retrying (the same result would come back)."""
        refused = storable.refusal(
            value,
            self.max_result_bytes,
            "the effect's result",
            option="flowd run --max-result-bytes",
        )
        if refused is not None:
            raise EffectError(
                f"the effect returned a value that is not JSON the store can hold: {refused}",
                retryable=False,
            )
        return value


def _failure_of(exc: BaseException) -> tuple[Any, AttemptFailure]:
    """The failure an exception from an attempt stands for; its message made
    storable (an effect's exception may carry any text, of any length)."""
    text = storable.clean_text
    if isinstance(exc, HttpStatusError):
        return exc.response, exc.to_failure()
    if isinstance(exc, EffectError):
        return None, AttemptFailure(kind="error", message=text(str(exc)), retryable=exc.retryable)
    if isinstance(exc, EffectLoadError | ExprError):
        return None, AttemptFailure(kind="error", message=text(str(exc)), retryable=False)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return None, AttemptFailure(kind="timeout", message=text(f"timed out: {exc}"))
    return None, AttemptFailure(kind="error", message=text(f"{type(exc).__name__}: {exc}"))
