"""`Runtime`: flowd's imperative shell around the pure `step`.

Typical use::

    store = await SQLiteStore.open("flowd.db")
    rt = Runtime(store, [ir1, ir2], SystemClock(), env={"CARRIER_URL": "..."})
    await rt.start()                      # recovery, then background tasks
    await rt.ingest_events("orders", [IncomingRecord(value=b'{...}', source=..., position=...)])
    await rt.signal("order_fulfillment", "o-1", "review", {"approved": True}, signal_id="s-1")
    ...
    await rt.drain_and_stop()

Every input (event, signal, timer, effect result, callback, operator action)
is first made durable in its instance's inbox; the per-key scheduler then
steps instances, one transition in flight per key and many keys at once.
Records for keys with nothing else to do are stepped as they arrive and their
steps committed with them instead (`arrivals`).
All public coroutines may be called from any task of the runtime's loop.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self

from .. import storable
from ..model import Cancel, EffectResult, Input, Instance, RetryIncident, SignalInput
from ..storable import Bounds
from ..store import (
    DeadLetter,
    EffectCallUpdate,
    InboxItem,
    InboxRow,
    IngestResult,
    SourcePosition,
    StepCommit,
    Store,
    StoreError,
    TimerRow,
)
from .activity import Activity
from .arrivals import Arrivals
from .clock import Clock, SystemClock, VirtualClock
from .effect_calls import EffectCalls, render_http
from .effects.callbacks import token_matches
from .effects.python import PythonEffect, PythonEffectLoader
from .effects.runner import CallSpec, EffectRunner
from .firing import TimerFiring
from .inbox import InboxCache, queued
from .ingest import (
    Delivery,
    EventRouter,
    IncomingRecord,
    Ingested,
    IngestOutcome,
    IngestSummary,
    ingest_records,
    signal_source,
    stored_rows,
)
from .logconsumer import LogConsumer
from .looplag import LagReport, LoopLagMonitor
from .outbox import OutboxRelay, OutboxSink
from .partitions import OwnedPartitions, PartitionedStore, PartitionHooks, PartitionsStatus
from .scheduler import KeyScheduler
from .stepper import InstanceCache, KeyId, KeyStepper, StepHooks, Transition
from .timers import TimerService
from .versions import LoadedVersion, UnknownVersionError, VersionRegistry

log = logging.getLogger("flowyard.runtime")

RuntimeState = Literal["new", "running", "stopping", "stopped"]


class RuntimeNotRunningError(RuntimeError):
    """Input was offered before `start()` or after `drain_and_stop()` began."""


class CallbackClosedError(LookupError):
    """A callback for an effect call that has already failed (timed out, say)."""


class UnstorableInputError(ValueError):
    """Input the store cannot hold or that is over a size bound (see `storable`)."""


class UnknownInstanceError(LookupError):
    """An operator action named an instance that does not exist."""


class Runtime:
    """Runs loaded flows durably against a store.

    Parameters:
    - `store`: an open `Store`; `drain_and_stop()` closes it.
    - `programs`: flow IRs (dicts, as `flowc` writes them). Each is saved in the
      store; new instances of a flow start on its highest `version`, running
      instances keep the IR hash they started with.
    - `clock`: `SystemClock()` by default; a `VirtualClock` makes `advance()` work.
    - `env`: the environment variables expressions may read as `env`.
    - `effect_overrides`: effect name -> `async def fn(args, ctx)`, replacing
      the declared implementation (python or http) of that effect.
    - `max_concurrent_keys`: how many keys may be stepping at once.
    - `on_transition`: called (synchronously) after every committed step.
    - `on_dead_letter`: called with `(source, reason)` when applying a key's
      inbox turns an input into a dead letter (ingest reports its own).
    - `callback_base_url`: base of the URL announced to callback effects
      (`<base>/callbacks/<token>`).
    - `rng`: the random source for retry jitter.
    - `outbox_sink`: produce emitted records there (e.g. Kafka) instead of
      appending them to the embedded log.
    - `effect_clock`: the clock of effect timeouts and retry backoffs, when
      they should not follow `clock` (e.g. real time under a scaled demo clock).
    - `allowed_modules`: Python effects import only the project's modules
      (under the search path) and these (None: anything importable).
    - `max_effects_in_flight`: at most this many effect attempts run at once;
      further calls wait for a slot (None: no bound).
    - `step_on_arrival`: step records for idle keys in the transaction that
      stores them, instead of through the inbox (see `arrivals`); off, every
      input passes through the inbox.
    - `bounds`: size limits on effect results, callback bodies and instance
      data (`storable.Bounds`; the HTTP ones are the ingress's).
    - `partitioned`: the same store (unwrapped), when several processes share
      it: this runtime then steps only the instances of the partitions it is
      given (`take_partitions`), and each turn reads its key's inbox from the
      store (see `partitions`).
    """

    def __init__(
        self,
        store: Store,
        programs: Sequence[Mapping[str, Any]],
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        *,
        effect_overrides: Mapping[str, PythonEffect] | None = None,
        max_concurrent_keys: int = 256,
        on_transition: Callable[[Transition], None] | None = None,
        on_dead_letter: Callable[[str, str], None] | None = None,
        callback_base_url: str = "http://127.0.0.1:8080",
        rng: random.Random | None = None,
        effect_search_path: list[str] | None = None,
        outbox_sink: OutboxSink | None = None,
        steps_per_turn: int = 32,
        cache_size: int = 100_000,
        effect_clock: Clock | None = None,
        step_on_arrival: bool = True,
        bounds: Bounds | None = None,
        max_effects_in_flight: int | None = None,
        allowed_modules: Sequence[str] | None = None,
        partitioned: PartitionedStore | None = None,
    ) -> None:
        self._store = store
        self.bounds = bounds or Bounds()
        self._loop_lag = LoopLagMonitor()
        self._step_on_arrival = step_on_arrival
        self._irs = list(programs)
        self._clock: Clock = clock or SystemClock()
        self._env = dict(env or {})
        self._state: RuntimeState = "new"
        self._activity = Activity()
        self._versions = VersionRegistry()
        self._router = EventRouter(self._env)
        self._cache = InstanceCache(store, cache_size)
        self._effects = EffectRunner(
            store=store,
            clock=effect_clock or self._clock,
            activity=self._activity,
            render_http=partial(render_http, self._versions, self._env),
            deliver=self._deliver_effect_result,
            loader=PythonEffectLoader(effect_search_path, allowed_modules),
            overrides=dict(effect_overrides or {}),
            rng=rng or random.Random(),
            backoff_is_idle=isinstance(self._clock, VirtualClock),
            max_result_bytes=self.bounds.max_result_bytes,
            max_attempts_running=max_effects_in_flight,
        )
        self._calls = EffectCalls(
            store=store,
            versions=self._versions,
            cache=self._cache,
            runner=self._effects,
            clock=self._clock,
            callback_base_url=callback_base_url,
        )
        self._inbox = InboxCache(store)
        self._stepper = KeyStepper(
            store,
            self._clock,
            self._versions,
            self._cache,
            StepHooks(
                run_effects=self._calls.run,
                stepped=self._calls.abandon_unawaited,
                timers_changed=self._timers_changed,
                emitted=self._emitted,
                on_transition=on_transition,
                on_dead_letter=on_dead_letter,
            ),
            inbox=self._inbox,
            env=self._env,
            steps_per_turn=steps_per_turn,
            max_data_bytes=self.bounds.max_data_bytes,
        )
        self._scheduler: KeyScheduler[KeyId] = KeyScheduler(
            self._run_key,
            max_concurrent=max_concurrent_keys,
            activity=self._activity,
            expected_errors=(StoreError,),
        )
        firing = TimerFiring(
            stepper=self._stepper,
            scheduler=self._scheduler,
            inbox=self._inbox,
            cache=self._cache,
            store_inputs=self._store_inputs,
            queue=self._queue,
            step_at_once=step_on_arrival,
            owns=self._owns,
        )
        self._timers = TimerService(
            store, self._clock, activity=self._activity, notify=self._notify, fire=firing.fire
        )
        self._log = LogConsumer(
            store,
            self._clock,
            activity=self._activity,
            topics=lambda: self._router.topics,
            ingest=self._ingest_from_log,
        )
        self._outbox = OutboxRelay(
            store,
            self._clock,
            activity=self._activity,
            on_appended=self._log.wake,
            sink=outbox_sink,
        )
        self._partitions: OwnedPartitions | None = None
        if partitioned is not None:
            self._partitions = OwnedPartitions(
                partitioned,
                PartitionHooks(
                    now_ms=self._clock.now_ms,
                    notify=self._notify,
                    resume_effect_calls=self._calls.resume,
                    wait_turns=self._scheduler.settle,
                    cancel_effects=self._effects.cancel_where,
                    forget=self._forget_keys,
                    woken=self._partitions_moved,
                    known=lambda kid: self._scheduler.known(kid) or self._inbox.holds(kid),
                ),
            )

    # ------------------------------------------------------------ lifecycle

    @property
    def store(self) -> Store:
        """The store this runtime writes."""
        return self._store

    @property
    def clock(self) -> Clock:
        """The clock this runtime reads."""
        return self._clock

    @property
    def state(self) -> RuntimeState:
        """`new`, `running`, `stopping` or `stopped`."""
        return self._state

    @property
    def effect_attempts_running(self) -> int:
        """Effect attempts running now (bounded by `max_effects_in_flight`)."""
        return self._effects.attempts_running

    @property
    def effect_calls_waiting(self) -> int:
        """Effect calls waiting for a slot under `max_effects_in_flight`."""
        return self._effects.waiting_for_slot

    @property
    def env(self) -> Mapping[str, str]:
        """The environment variables flows may read (for replaying journals)."""
        return self._env

    @property
    def steps(self) -> int:
        """Steps committed since start."""
        return self._stepper.steps

    @property
    def pending_keys(self) -> int:
        """Keys with input to apply, being stepped or waiting for a free slot."""
        return self._scheduler.running + self._scheduler.queued

    def watch_applied(self, watcher: Callable[[Sequence[int]], None]) -> None:
        """Call `watcher` with the ids of inbox rows once their application is
        durable (ingest's `Delivery.inbox_id`s among them)."""
        self._inbox.watch(watcher)

    def holds_inbox_row(self, flow: str, key: str, row_id: int) -> bool:
        """Whether inbox row `row_id` of `(flow, key)` is stored and not yet
        applied, as far as memory knows (False once it is applied)."""
        return self._inbox.holds_row((flow, key), row_id)

    @property
    def effects_in_flight(self) -> int:
        """Effect calls started and not yet delivered (including those backing off)."""
        return self._effects.in_flight

    @property
    def loop_lag(self) -> LagReport:
        """How often, and how long, the event loop was held (see `looplag`)."""
        return self._loop_lag.report

    def current_version(self, flow: str) -> LoadedVersion | None:
        """The version new instances of `flow` start on."""
        return self._versions.current(flow)

    def version(self, ir_hash: str) -> LoadedVersion:
        """A loaded version by IR hash; raises `UnknownVersionError`."""
        return self._versions.by_hash(ir_hash)

    @property
    def flows(self) -> frozenset[str]:
        """The flows loaded (given or found in the store), once started."""
        return self._versions.flows

    @property
    def topics(self) -> frozenset[str]:
        """Every topic some loaded flow reads, once started."""
        return self._router.topics

    async def start(self) -> None:
        """Recover and start working.

        Saves the given IRs and loads every stored one; re-issues effect calls
        left pending or running (same idempotency key; completed ones are never
        re-run); fires timers that fell due while down; relays unsent outbox
        rows; catches up with the embedded log; schedules every key with a
        ready inbox.
        """
        if self._state != "new":
            raise RuntimeError(f"a runtime starts once (it is {self._state})")
        now = self._clock.now_ms()
        await self._versions.load(self._store, self._irs, now)
        self._router.set_programs(
            [v.program for flow in self._versions.flows if (v := self._versions.current(flow))]
        )
        self._state = "running"
        if self._partitions is not None:
            # Nothing is held yet: work arrives with `take_partitions`.
            await self._partitions.start()
        else:
            # Before anything can add rows in memory: the rows an earlier run left
            # are only in the store, and must not be overtaken by newer ones.
            for flow, key in await self._store.keys_with_ready_inbox(now):
                self._notify(flow, key)
            await self._calls.resume()
        self._timers.start()
        self._outbox.start()
        self._log.start()
        self._loop_lag.start()
        log.info("runtime started with flows %s", sorted(self._versions.flows))

    async def drain_and_stop(self, *, close_store: bool = True) -> None:
        """Stop gracefully: take no new input, let steps in flight commit, cancel
        effect tasks (they are re-issued on the next start), close the store."""
        if self._state in ("stopping", "stopped"):
            return
        was_running = self._state == "running"
        self._state = "stopping"
        if was_running:
            if self._partitions is not None:
                await self._partitions.stop()
            await self._loop_lag.stop()
            await self._log.stop()
            await self._timers.stop()
            await self._scheduler.stop()
            await self._effects.cancel_all()
            await self._outbox.stop()
        if close_store:
            await self._store.close()
        self._state = "stopped"
        log.info("runtime stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.drain_and_stop()

    async def wait_idle(self) -> None:
        """Return once no key is runnable, no step is committing, no effect call
        is in flight and no relay is pending. Timers and delayed events waiting
        for their time are idle; so are effect calls backing off, under a
        `VirtualClock` only (there, only `advance` moves them on)."""
        await self._activity.wait_idle()

    async def advance(self, ms: int) -> None:
        """With a `VirtualClock`: move time forward by `ms`, stopping at every
        due time on the way and letting the runtime settle there.

        Settling waits for running effect attempts to return (in real time);
        an attempt that never returns is not timed out by virtual time, so
        bound the call (`asyncio.wait_for`) when effects may hang."""
        clock = self._clock
        if not isinstance(clock, VirtualClock):
            raise TypeError("advance() needs a VirtualClock")
        target = clock.now_ms() + ms
        while True:
            await self.wait_idle()
            due = clock.next_due_ms()
            if due is None or due > target:
                break
            clock.set(due)
        clock.set(target)
        await self.wait_idle()

    # ------------------------------------------------------------ input

    async def ingest_events(
        self,
        topic: str,
        records: Sequence[IncomingRecord],
        *,
        advance: Sequence[SourcePosition] = (),
    ) -> list[IngestOutcome]:
        """Offer records that arrived on `topic`; one outcome per record.

        Resolves once the accepted records (and the dead letters for those no
        flow could take) are durable; `advance` moves further source positions
        in the same transaction (e.g. a Kafka consumer's committed offset).
        """
        self._check_running()
        return (await self._ingest(topic, records, advance)).outcomes

    async def ingest_batch(
        self,
        topic: str,
        records: Sequence[IncomingRecord],
        *,
        advance: Sequence[SourcePosition] = (),
    ) -> IngestSummary:
        """`ingest_events`, for a caller that needs only the inbox rows stored and
        not yet applied, and the dead letters' reasons (a Kafka consumer's batch):
        the same store write, without an outcome object per record."""
        self._check_running()
        summary = (await self._ingest(topic, records, advance, summary_only=True)).summary
        assert summary is not None
        return summary

    async def signal(
        self,
        flow: str,
        key: str,
        name: str,
        payload: Any,
        signal_id: str | None = None,
    ) -> IngestOutcome:
        """Deliver signal `name` to instance `(flow, key)`.

        The payload is checked against the signal's schema (of the instance's
        version, or the newest for a new instance); a bad payload, an unknown
        flow or an unknown signal is dead-lettered, with the reason in the
        outcome. `signal_id` makes redelivery harmless (accepted once).
        """
        self._check_running()
        now = self._clock.now_ms()
        source = signal_source(flow, key, signal_id) if signal_id is not None else None
        version = await self._version_for(flow, key)
        problem: str | None = None
        if version is None:
            problem = f"unknown flow {flow!r}"
        elif name not in version.program.signals:
            problem = f"flow {flow!r} has no signal {name!r}"
        else:
            violations = version.program.validate_signal(name, payload)
            if violations:
                problem = f"{flow}.{name}: schema violation: " + "; ".join(violations)
        if problem is not None:
            letter = DeadLetter(
                source=signal_source(flow, key, signal_id),
                topic=None,
                reason=problem,
                payload=_dump(payload),
                at_ms=now,
            )
            await self._store.dead_letter(letter)
            log.warning("signal %s for %s/%s dead-lettered: %s", name, flow, key, problem)
            return IngestOutcome(status="dead_lettered", reasons=(problem,))
        item = InboxItem(
            flow=flow,
            key=key,
            input=SignalInput(name, payload, now).to_json(),
            received_ms=now,
            source=source,
        )
        result = await self._store_inputs([item])
        inbox_id = result.inbox_ids[0]
        self._stored([item], result)
        delivery = Delivery(flow=flow, key=key, event=name, inbox_id=inbox_id)
        status: Literal["accepted", "duplicate"] = "accepted" if inbox_id else "duplicate"
        return IngestOutcome(status=status, deliveries=(delivery,))

    async def resolve_callback(
        self, token: str, payload: Any, *, ok: bool = True, error: str | None = None
    ) -> bool:
        """Complete the effect call waiting for `token` with `payload`.

        Returns False when no call has that token; raises `CallbackClosedError`
        when its call has already failed (its callback timed out, or a callback
        reported failure). A second success for a token is accepted and ignored.
        """
        self._check_running()
        refused = storable.refusal(payload, self.bounds.max_result_bytes, "the callback's body")
        if refused is None and error is not None:
            refused = storable.problem(error)
        if refused is not None:
            raise UnstorableInputError(refused)
        call = await self._store.call_by_token(token)
        if call is None or not token_matches(self._store.callback_secret, call.call_id, token):
            return False
        if call.status == "failed":
            raise CallbackClosedError(
                f"the effect call {call.call_id} has already failed"
                + (f" ({call.error})" if call.error else "")
            )
        now = self._clock.now_ms()
        result = EffectResult(call.call_id, ok, payload, error, "callback", now)
        item = InboxItem(
            flow=call.flow,
            key=call.key,
            input=result.to_json(),
            received_ms=now,
            source=f"callback:{call.call_id}",
        )
        update = EffectCallUpdate(
            call_id=call.call_id,
            status="succeeded" if ok else "failed",
            at_ms=now,
            result={"value": payload},
            error=error,
        )
        stored = await self._store_inputs([item], effect_updates=[update])
        self._stored([item], stored)
        return True

    async def retry_incident(self, flow: str, key: str) -> int | None:
        """Ask an incident to retry (re-issue its failed calls or re-apply its
        input); returns the inbox id. Raises `UnknownInstanceError`."""
        return await self._operator(flow, key, RetryIncident(self._clock.now_ms()))

    async def cancel(self, flow: str, key: str, reason: str = "") -> int | None:
        """Cancel an instance (cancels its timers; later inputs are ignored);
        returns the inbox id. Raises `UnknownInstanceError`."""
        return await self._operator(flow, key, Cancel(self._clock.now_ms(), reason))

    async def get_instance(self, flow: str, key: str) -> Instance | None:
        """The instance's latest committed snapshot, or None."""
        return await self._snapshot((flow, key))

    # ------------------------------------------------------------ partitions

    @property
    def partitioned(self) -> bool:
        """Whether this runtime shares its store and steps only partitions it holds."""
        return self._partitions is not None

    async def take_partitions(self, partitions: Sequence[int]) -> dict[int, int]:
        """Claim `partitions` (fencing their last holder) and start stepping
        their instances; the epochs claimed. Partitioned mode only."""
        if self._partitions is None:
            raise RuntimeError("take_partitions needs a partitioned runtime")
        self._check_running()
        return await self._partitions.take(partitions)

    async def give_up_partitions(self, partitions: Sequence[int]) -> list[int]:
        """Stop stepping `partitions` once their turns and effect calls in
        flight are over, and release them; those that were held."""
        if self._partitions is None:
            raise RuntimeError("give_up_partitions needs a partitioned runtime")
        return await self._partitions.give_up(partitions)

    def partitions_status(self) -> PartitionsStatus | None:
        """The partitions held and their epochs (None: not partitioned)."""
        return None if self._partitions is None else self._partitions.status()

    def _owns(self, key: str) -> bool:
        return self._partitions is None or self._partitions.owns(key)

    async def _run_key(self, kid: KeyId) -> bool:
        if self._partitions is not None:
            if not self._partitions.owns(kid[1]):
                return False
            self._inbox.mark_stale(kid)
        try:
            return await self._stepper.run(kid)
        except StoreError:
            if not self._owns(kid[1]):
                return False  # lost meanwhile: its new holder steps it
            raise

    def _forget_keys(self, which: Callable[[KeyId], bool]) -> None:
        self._cache.drop_where(which)
        self._inbox.drop_where(which)

    def _partitions_moved(self) -> None:
        self._timers.wake()
        self._outbox.wake()

    async def _snapshot(self, kid: KeyId) -> Instance | None:
        """The latest committed snapshot of `kid`: from memory for the keys this
        runtime steps, from the store for the others (not kept: they change
        behind our back)."""
        if self._owns(kid[1]):
            return await self._cache.get(kid)
        row = await self._store.load_instance(*kid)
        return None if row is None else Instance.from_json(row.snapshot)

    # ------------------------------------------------------------ internals

    def _check_running(self) -> None:
        if self._state != "running":
            raise RuntimeNotRunningError(f"the runtime is {self._state}; it takes no input")

    def _notify(self, flow: str, key: str) -> None:
        """`(flow, key)` may have input that only the store knows of."""
        if not self._owns(key):
            return
        self._inbox.mark_stale((flow, key))
        self._scheduler.notify((flow, key))

    async def _store_inputs(
        self,
        items: Sequence[InboxItem],
        *,
        effect_updates: Sequence[EffectCallUpdate] = (),
        timers_fired: Sequence[TimerRow] = (),
        applied: Sequence[StepCommit | None] = (),
    ) -> IngestResult:
        """Store inputs for their keys' inboxes (or apply the steps offered in
        `applied`, see `Store.ingest`); while the write is in flight, no input
        for those keys is stepped on arrival ahead of them."""
        kids = [(item.flow, item.key) for item in items]
        self._inbox.expect(kids)
        try:
            return await self._store.ingest(
                items, effect_updates=effect_updates, timers_fired=timers_fired, applied=applied
            )
        finally:
            self._inbox.arrived(kids)

    def _stored(self, items: Sequence[InboxItem], result: IngestResult) -> None:
        """`items` were ingested with `result`: queue the accepted ones and wake their keys."""
        self._queue(stored_rows(items, result.inbox_ids))

    def _queue(self, rows: Sequence[InboxRow]) -> None:
        """Rows just stored: hand them to their keys' inboxes in memory and wake the keys
        (and the timer task, which wakes a key again when a delayed row falls due)."""
        delayed = False
        for row in rows:
            if not self._owns(row.key):
                continue  # the store tells its holder
            kid = (row.flow, row.key)
            self._inbox.add(kid, (queued(row),))
            self._scheduler.notify(kid)
            delayed = delayed or row.not_before_ms is not None
        if delayed:
            self._timers.wake()

    def _timers_changed(self) -> None:
        self._timers.wake()

    def _emitted(self) -> None:
        self._outbox.wake()

    async def _ingest(
        self,
        topic: str,
        records: Sequence[IncomingRecord],
        advance: Sequence[SourcePosition],
        *,
        summary_only: bool = False,
    ) -> Ingested:
        now = self._clock.now_ms()
        arrivals = Arrivals(
            self._stepper, self._scheduler, self._inbox, self._cache, owns=self._owns
        )
        try:
            ingested = await ingest_records(
                self._store,
                router=self._router,
                topic=topic,
                records=records,
                now_ms=now,
                advance=advance,
                on_arrival=arrivals.plan if self._step_on_arrival else None,
                summary_only=summary_only,
            )
            arrivals.settle(ingested.applied)
            self._queue(ingested.rows)
        finally:
            arrivals.release()
        for outcome in ingested.outcomes:
            for reason in outcome.reasons:
                log.warning("record on %s dead-lettered: %s", topic, reason)
        if ingested.summary is not None:
            for _, reason in ingested.summary.reasons:
                log.warning("record on %s dead-lettered: %s", topic, reason)
        return ingested

    async def _ingest_from_log(
        self, topic: str, records: Sequence[IncomingRecord], advance: Sequence[SourcePosition]
    ) -> list[IngestOutcome]:
        return (await self._ingest(topic, records, advance)).outcomes

    async def _operator(self, flow: str, key: str, inp: Input) -> int | None:
        self._check_running()
        if await self._snapshot((flow, key)) is None:
            raise UnknownInstanceError(f"no instance {flow}/{key}")
        now = self._clock.now_ms()
        item = InboxItem(flow=flow, key=key, input=inp.to_json(), received_ms=now)
        result = await self._store_inputs([item])
        self._stored([item], result)
        return result.inbox_ids[0]

    async def _version_for(self, flow: str, key: str) -> LoadedVersion | None:
        instance = await self._snapshot((flow, key))
        if instance is None:
            return self._versions.current(flow)
        try:
            return self._versions.by_hash(instance.ir_hash)
        except UnknownVersionError:
            return None

    # ------------------------------------------------------------ effects

    async def _deliver_effect_result(
        self, spec: CallSpec, item: InboxItem, update: EffectCallUpdate
    ) -> None:
        result = await self._store_inputs([item], effect_updates=[update])
        self._stored([item], result)


def _dump(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
