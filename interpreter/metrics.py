"""flowd's Prometheus metrics, served at `GET /metrics` (prometheus-client).

Counters are fed by what the runtime reports (each committed step, each dead
letter) and by the store writes it makes (ingests, commits, effect attempts),
through `MeteredStore`, a thin wrapper that times and counts them. Gauges are
read from the store (`Store.gauges`) and the runtime when scraped.

Labels are bounded by the flows loaded, never by instance keys: flow, state
(from the IR), input kind, source kind (`http`, `kafka`, `file`, `signal`,
...), effect name, attempt outcome.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .program import CallAction, Program
from .store import (
    EffectAttempt,
    EffectCallUpdate,
    InboxItem,
    IngestResult,
    SourcePosition,
    StepCommit,
    Store,
)

if TYPE_CHECKING:
    from .runtime import Runtime, Transition

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The text exposition format's content type."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
SOURCE_KINDS = frozenset({"http", "kafka", "file", "signal", "replay", "log"})


def source_kind(source: str | None) -> str:
    """A bounded label for an input's source id (`kafka:orders:0` -> `kafka`)."""
    if source is None:
        return "internal"
    kind = source.split(":", 1)[0]
    return kind if kind in SOURCE_KINDS else "other"


def transition_origin(transition_id: str, program: Program | None) -> str:
    """The state a transition (id `state/on/Event/0`, `state/after/0`, ...) leaves."""
    state = transition_id.split("/", 1)[0]
    return state if program is not None and state in program.states else "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallInfo:
    """What a call id says: its instance, the journal seq that asked for it, its effect."""

    flow: str
    key: str | None
    seq: int | None
    effect: str


class Metrics:
    """The metrics of one flowd process, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runtime: Runtime | None = None
        self.ingested = Counter(
            "flowd_inputs_ingested",
            "Inputs accepted into the store (inbox or applied on arrival), by flow and source.",
            ["flow", "source"],
            registry=r,
        )
        self.applied = Counter(
            "flowd_inputs_applied",
            "Inputs applied to instances (one journal entry each), by flow and input kind.",
            ["flow", "input"],
            registry=r,
        )
        self.transitions = Counter(
            "flowd_transitions",
            "Transitions taken (counted as they start; a catch counts to its target).",
            ["flow", "from_state", "to_state"],
            registry=r,
        )
        self.incidents_raised = Counter(
            "flowd_incidents_raised", "Instances that became incidents.", ["flow"], registry=r
        )
        self.dead_lettered = Counter(
            "flowd_dead_letters",
            "Inputs dead-lettered, by the kind of their source.",
            ["source"],
            registry=r,
        )
        self.attempts = Counter(
            "flowd_effect_attempts",
            "Effect attempts finished, by effect and outcome (ok, error, timeout, ...).",
            ["effect", "outcome"],
            registry=r,
        )
        self.attempt_seconds = Histogram(
            "flowd_effect_attempt_duration_seconds",
            "How long effect attempts took.",
            ["effect"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_write_seconds = Histogram(
            "flowd_store_write_duration_seconds",
            "Store writes as the runtime waits for them (queue and group commit), by kind.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_batch = Histogram(
            "flowd_store_write_batch_size",
            "Steps committed per commit call, and items per ingest call.",
            ["operation"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.instances = Gauge(
            "flowd_instances",
            "Instances by flow, state and status.",
            ["flow", "state", "status"],
            registry=r,
        )
        self.effect_calls = Gauge(
            "flowd_effect_calls", "Effect calls in the store by status.", ["status"], registry=r
        )
        self.in_flight = Gauge(
            "flowd_effects_in_flight", "Effect attempts running in this process.", registry=r
        )
        self.waiting = Gauge(
            "flowd_effect_calls_waiting",
            "Effect calls waiting for a slot under the bound on effects in flight.",
            registry=r,
        )
        self.inbox = Gauge("flowd_inbox_inputs", "Inputs waiting in inboxes.", registry=r)
        self.backlog = Gauge(
            "flowd_inbox_ready_inputs",
            "Inputs in inboxes ready to be processed now (the processing backlog).",
            registry=r,
        )
        self.timers = Gauge("flowd_timers_pending", "Durable timers armed.", registry=r)
        self.timers_due = Gauge("flowd_timers_due", "Timers due and not yet fired.", registry=r)
        self.timer_lateness = Gauge(
            "flowd_timer_lateness_seconds",
            "How far past its due time the earliest armed timer is (0 when none is late).",
            registry=r,
        )
        self.outbox = Gauge("flowd_outbox_pending", "Emitted records not yet relayed.", registry=r)
        self.dead_letters_stored = Gauge(
            "flowd_dead_letters_stored", "Dead letters kept in the store.", registry=r
        )
        self.on_failed_attempt: Callable[[EffectAttempt, CallInfo], None] | None = None
        """Told of each effect attempt that did not succeed (for `--log-format json`)."""
        self.inbox_depth = 0
        """Inbox rows in the store, kept up to date by `MeteredStore` (cheap to read
        on every request; `load_inbox_depth` sets it from the store at start)."""
        self._known_instances: set[tuple[str, str, str]] = set()
        self._known_calls: set[str] = set()
        # Counted per input as plain tallies, added to the counters above when
        # scraped: a labelled `inc` per input (a label lookup and a lock) took
        # a tenth of the event loop's time under load. Their keys are bounded
        # as the labels are: by flows, versions, transition ids and kinds.
        self._steps: Tally[tuple[str, str, str, tuple[str, ...]]] = Tally()
        """(flow, input kind, ir_hash, trace) of each step: steps alike share a
        key, and are read apart into the tallies below when folded."""
        self._applied_by: Tally[tuple[str, str]] = Tally()
        self._moves: Tally[tuple[str, str, str]] = Tally()
        """(flow, ir_hash, trace line) of each transition and catch taken."""
        self._incidents_by: Tally[str] = Tally()
        self.ingested_by: Tally[tuple[str, str]] = Tally()
        """Inputs accepted, by (flow, source kind), as `MeteredStore` counts them."""

    # ------------------------------------------------------------ wiring

    def wrap_store(self, store: Store) -> Store:
        """`store`, with its ingests, commits and effect attempts counted and timed."""
        return cast("Store", MeteredStore(store, self))

    async def load_inbox_depth(self, store: Store) -> None:
        """Count the inbox rows already stored (before the runtime starts)."""
        self.inbox_depth = (await store.gauges(0)).inbox

    def watch(self, runtime: Runtime) -> None:
        """Read programs and live figures from `runtime` (set once it is built)."""
        self.runtime = runtime

    def program(self, flow: str, ir_hash: str | None = None) -> Program | None:
        """The program of `ir_hash` (or the flow's current one), if the runtime knows it."""
        if self.runtime is None:
            return None
        from .runtime import UnknownVersionError

        if ir_hash is not None:
            try:
                return self.runtime.version(ir_hash).program
            except UnknownVersionError:
                pass
        current = self.runtime.current_version(flow)
        return None if current is None else current.program

    # ------------------------------------------------------------ runtime hooks

    def on_transition(self, t: Transition) -> None:
        """Count one committed step (pass as, or chain into, `on_transition`)."""
        steps = self._steps
        steps[t.flow, t.input.kind, t.ir_hash, t.result.trace] += 1
        if len(steps) > _STEP_KEYS:
            self._fold_steps()  # traces naming call ids are all different

    def _fold_steps(self) -> None:
        """Read the steps counted into the transitions, catches and incidents they took."""
        for (flow, kind, ir_hash, trace), n in self._steps.items():
            self._applied_by[flow, kind] += n
            for line in trace:
                if line.startswith(("transition ", "catch ")):
                    self._moves[flow, ir_hash, line] += n
                elif line == "incident":
                    self._incidents_by[flow] += n
        self._steps.clear()

    def _fold_tallies(self) -> None:
        """Add what was tallied since the last scrape to the counters."""
        self._fold_steps()
        for (flow, kind), n in self._applied_by.items():
            self.applied.labels(flow, kind).inc(n)
        for (flow, source), n in self.ingested_by.items():
            self.ingested.labels(flow, source).inc(n)
        for flow, n in self._incidents_by.items():
            self.incidents_raised.labels(flow).inc(n)
        for (flow, ir_hash, line), n in self._moves.items():
            program = self.program(flow, ir_hash)
            if program is None:
                continue
            word, _, rest = line.partition(" ")
            candidate = program.transitions.get(rest)
            origin = transition_origin(rest, program)
            if word == "transition":
                target = candidate.target if candidate is not None else None
            else:
                caught = candidate.catch if candidate is not None else None
                target = caught.target if caught is not None else None
            self.transitions.labels(flow, origin, target or origin).inc(n)
        for tally in (self._applied_by, self.ingested_by, self._incidents_by, self._moves):
            tally.clear()

    def on_dead_letter(self, source: str, reason: str) -> None:
        """Count one dead letter (pass as, or chain into, `on_dead_letter`)."""
        del reason
        self.dead_lettered.labels(source_kind(source)).inc()

    def describe_call(self, call_id: str) -> CallInfo:
        """Flow, key, seq and effect of a call id `{flow}/{key}/{seq}/{action_id}[/{item}]`
        (keys may hold `/`: the action id is found from the end)."""
        flow, _, rest = call_id.partition("/")
        program = self.program(flow)
        parts = rest.split("/")
        if program is not None:
            for start in range(2, len(parts)):
                for end in (len(parts), len(parts) - 1):
                    action = program.actions.get("/".join(parts[start:end]))
                    if isinstance(action, CallAction):
                        seq = parts[start - 1]
                        return CallInfo(
                            flow=flow,
                            key="/".join(parts[: start - 1]),
                            seq=int(seq) if seq.isdigit() else None,
                            effect=action.effect,
                        )
        return CallInfo(flow=flow, key=None, seq=None, effect="unknown")

    def attempt_finished(self, attempt: EffectAttempt) -> None:
        """Count a finished effect attempt (and tell `on_failed_attempt` of a failure)."""
        if attempt.finished_ms is None or attempt.outcome is None:
            return
        call = self.describe_call(attempt.call_id)
        self.attempts.labels(call.effect, attempt.outcome).inc()
        seconds = max(0, attempt.finished_ms - attempt.started_ms) / 1000
        self.attempt_seconds.labels(call.effect).observe(seconds)
        if attempt.outcome != "ok" and self.on_failed_attempt is not None:
            self.on_failed_attempt(attempt, call)

    # ------------------------------------------------------------ scraping

    async def render(self) -> bytes:
        """The metrics in the Prometheus text format, gauges read now."""
        self._fold_tallies()
        runtime = self.runtime
        if runtime is not None:
            now = runtime.clock.now_ms()
            gauges = await runtime.store.gauges(now)
            seen: set[tuple[str, str, str]] = set()
            for flow, state, status, count in gauges.instances:
                self.instances.labels(flow, state, status).set(count)
                seen.add((flow, state, status))
            for gone in self._known_instances - seen:
                self.instances.labels(*gone).set(0)
            self._known_instances |= seen
            calls = dict(gauges.effect_calls)
            self._known_calls |= set(calls)
            for status in self._known_calls:
                self.effect_calls.labels(status).set(calls.get(status, 0))
            self.in_flight.set(runtime.effect_attempts_running)
            self.waiting.set(runtime.effect_calls_waiting)
            self.inbox.set(gauges.inbox)
            # Counted as writes return, read here as stored: agree again at each
            # scrape should a kind of write ever be missed (the next writes move on).
            self.inbox_depth = gauges.inbox
            self.backlog.set(gauges.inbox_ready)
            self.timers.set(gauges.timers)
            self.timers_due.set(gauges.timers_due)
            late = 0 if gauges.earliest_due_ms is None else max(0, now - gauges.earliest_due_ms)
            self.timer_lateness.set(late / 1000)
            self.outbox.set(gauges.outbox_pending)
            self.dead_letters_stored.set(gauges.dead_letters)
        return generate_latest(self.registry)


def chain(*hooks: Callable[..., None] | None) -> Callable[..., None] | None:
    """One hook calling each of `hooks` (None ones left out) in order."""
    present = [hook for hook in hooks if hook is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def call_all(*args: Any) -> None:
        for hook in present:
            hook(*args)

    return call_all


_STEP_KEYS = 1000
"""Distinct steps counted before they are folded into the tallies."""


class MeteredStore:
    """A `Store` whose writes are timed and counted; everything else passes through."""

    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def ingest(
        self,
        items: Sequence[InboxItem],
        sources: Sequence[SourcePosition] = (),
        *,
        applied: Sequence[StepCommit | None] = (),
        **kwargs: Any,
    ) -> IngestResult:
        started = time.perf_counter()
        result = await self._inner.ingest(items, sources, applied=applied, **kwargs)
        m = self._metrics
        m.store_write_seconds.labels("ingest").observe(time.perf_counter() - started)
        m.store_batch.labels("ingest").observe(len(items))
        counted = m.ingested_by
        inbox_ids = result.inbox_ids
        was_applied = result.applied or (False,) * len(items)
        kinds: dict[str | None, str] = {}  # a batch's items share a few sources
        queued = 0
        for index, item in enumerate(items):
            if inbox_ids[index] is not None:
                queued += 1
            elif not was_applied[index]:
                continue
            source = item.source
            kind = kinds.get(source)
            if kind is None:
                kind = kinds[source] = source_kind(source)
            counted[item.flow, kind] += 1
        for index, step in enumerate(applied):
            if step is not None and was_applied[index]:
                queued += len(step.inbox)
        m.inbox_depth += queued
        return result

    async def commit(self, commit: StepCommit) -> None:
        started = time.perf_counter()
        await self._inner.commit(commit)
        self._committed((commit,), time.perf_counter() - started)

    async def commit_steps(self, commits: Sequence[StepCommit]) -> None:
        started = time.perf_counter()
        await self._inner.commit_steps(commits)
        self._committed(commits, time.perf_counter() - started)

    def _committed(self, commits: Sequence[StepCommit], seconds: float) -> None:
        m = self._metrics
        m.store_write_seconds.labels("commit").observe(seconds)
        m.store_batch.labels("commit").observe(len(commits))
        for commit in commits:
            m.inbox_depth += len(commit.inbox) - len(commit.consumed)

    async def refuse_input(self, flow: str, key: str, inbox_id: int, letter: Any) -> int:
        letter_id = await self._inner.refuse_input(flow, key, inbox_id, letter)
        self._metrics.inbox_depth -= 1
        return letter_id

    async def record_attempt(
        self, attempt: EffectAttempt, update: EffectCallUpdate | None = None
    ) -> None:
        await self._inner.record_attempt(attempt, update)
        self._metrics.attempt_finished(attempt)
