"""Running a scenario on the real interpreter.

The flows are compiled with the real compiler and run by the real `Runtime`
(core, SQLite store in a temporary directory, effect runner, timers, outbox)
on a `VirtualClock`. Effects named in `stubs` are replaced through the
runtime's `effect_overrides`; unstubbed python effects run for real. After
every input step the runner waits until the runtime is idle, then resolves
callbacks the stubs promised. A scenario stops at its first failed step; when
all steps pass, every instance is replayed from its journal through `step`
and compared with its snapshot (`flowd verify`'s check).
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..live import LiveView
from ..program import Program
from ..runtime import (
    IncomingRecord,
    Runtime,
    UnknownInstanceError,
    UnknownVersionError,
    VirtualClock,
)
from ..store import SQLiteStore
from ..verify import verify_store
from .checks import check_calls, check_dead_letters, check_emitted, check_instance
from .load import load_scenario
from .spec import (
    AdvanceStep,
    CallbackStep,
    EventStep,
    ExpectCalls,
    ExpectDeadLetters,
    ExpectEmitted,
    ExpectInstance,
    OperatorStep,
    RestartStep,
    Scenario,
    ScenarioError,
    SignalStep,
    Step,
    Where,
)
from .stubs import StubBook

SETTLE_TIMEOUT_S = 30.0
"""How long (real time) the runtime may take to become idle after a step."""

CALLBACK_BASE_URL = "http://flowd.scenario"


@dataclass(frozen=True, slots=True)
class StepFailure:
    """Why a scenario failed: where, which step, and what was expected and found."""

    where: Where
    step: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.step}: {self.message}"


@dataclass(slots=True)
class ScenarioResult:
    """The outcome of one scenario file.

    `error` is set when the file could not be run at all (a bad scenario or a
    flow that does not compile); `failure` when a step's expectation failed.
    """

    path: Path
    name: str
    steps_total: int = 0
    steps_run: int = 0
    seconds: float = 0.0
    failure: StepFailure | None = None
    error: ScenarioError | None = None
    log: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every step held (and the journal replayed)."""
        return self.failure is None and self.error is None


class _StepFailedError(Exception):
    def __init__(self, failure: StepFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


async def run_scenario_file(
    path: str | Path,
    *,
    on_step: Callable[[str], None] | None = None,
    transitions: TextIO | None = None,
) -> ScenarioResult:
    """Load and run one scenario file; never raises for anything the file says.

    `on_step` receives a line per step as it starts; with `transitions`, every
    committed transition is written there as `flowd run` shows it.
    """
    started = time.monotonic()
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        return ScenarioResult(path=Path(path), name=str(path), error=exc)
    result = await run_scenario(scenario, on_step=on_step, transitions=transitions)
    result.seconds = time.monotonic() - started
    return result


async def run_scenario(
    scenario: Scenario,
    *,
    on_step: Callable[[str], None] | None = None,
    transitions: TextIO | None = None,
) -> ScenarioResult:
    """Run a loaded scenario on a fresh temporary store (see `run_scenario_file`)."""
    result = ScenarioResult(path=scenario.path, name=scenario.name, steps_total=len(scenario.steps))
    started = time.monotonic()

    def note(line: str) -> None:
        result.log.append(line)
        if on_step is not None:
            on_step(line)

    try:
        irs = [_compile(path, scenario.flow_where) for path in scenario.flows]
    except ScenarioError as exc:
        result.error = exc
        return result
    with tempfile.TemporaryDirectory(prefix="flowd-scenario-") as tmp:
        session = _Session(scenario, irs, Path(tmp) / "scenario.db", note, transitions)
        try:
            await session.open()
            for step in scenario.steps:
                await session.run(step)
                result.steps_run += 1
            await session.verify()
        except _StepFailedError as failed:
            result.failure = failed.failure
        except ScenarioError as exc:
            result.error = exc
        finally:
            await session.close()
    result.seconds = time.monotonic() - started
    return result


def _compile(path: Path, where: Where) -> dict[str, Any]:
    """A flow file (.flow.yaml, .flow) compiled, or an IR .json read; ScenarioError if bad."""
    if path.suffix == ".json":
        try:
            ir = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ScenarioError(where, f"cannot read the IR {path}: {exc}") from None
        if not isinstance(ir, dict):
            raise ScenarioError(where, f"{path} is not an IR (a JSON object)")
        return ir
    from ...compiler.api import compile_file
    from ...compiler.render import render_text

    if not path.is_file():
        raise ScenarioError(where, f"no flow file {path}")
    ir, diagnostics = compile_file(path)
    if ir is None:
        raise ScenarioError(
            where, f"the flow {path} does not compile:\n{render_text(diagnostics).rstrip()}"
        )
    return ir


class _Session:
    """One scenario's runtime, store, clock and stubs, and the steps applied to them."""

    def __init__(
        self,
        scenario: Scenario,
        irs: list[dict[str, Any]],
        db: Path,
        note: Callable[[str], None],
        transitions: TextIO | None = None,
    ) -> None:
        self.scenario = scenario
        self.irs = irs
        self.db = db
        self.note = note
        self.clock = VirtualClock(scenario.start_ms)
        self.book = StubBook(scenario.stubs)
        self.store: SQLiteStore | None = None
        self.rt: Runtime | None = None
        self.view: LiveView | None = None
        if transitions is not None:
            self.view = LiveView(
                self._program, now_ms=self.clock.now_ms, stream=transitions, every_line=True
            )

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self._check_stubs()
        self.store = await SQLiteStore.open(self.db, synchronous="OFF")
        await self._start()

    async def _start(self) -> None:
        assert self.store is not None
        effects = self._effects()
        http = {name for name, e in effects.items() if e.get("kind") == "http"}
        self.rt = Runtime(
            self.store,
            self.irs,
            self.clock,
            self.scenario.env,
            effect_overrides=self.book.overrides(http, Where(str(self.scenario.path), 1)),
            callback_base_url=CALLBACK_BASE_URL,
            rng=random.Random(0),
            effect_search_path=[str(p) for p in self.scenario.python_path],
            on_transition=None if self.view is None else self.view.transition,
        )
        await self.rt.start()

    async def close(self) -> None:
        if self.rt is not None and self.rt.state in ("new", "running"):
            await self.rt.drain_and_stop(close_store=False)
        if self.store is not None:
            await self.store.close()

    def _program(self, ir_hash: str) -> Program | None:
        if self.rt is None:
            return None
        try:
            return self.rt.version(ir_hash).program
        except UnknownVersionError:
            return None

    def _effects(self) -> dict[str, dict[str, Any]]:
        effects: dict[str, dict[str, Any]] = {}
        for ir in self.irs:
            effects.update(ir["definition"]["effects"])
        return effects

    def _flows(self) -> list[str]:
        return sorted({str(ir["flow"]) for ir in self.irs})

    def _check_stubs(self) -> None:
        effects = self._effects()
        for name, stub in self.scenario.stubs.items():
            effect = effects.get(name)
            if effect is None:
                known = ", ".join(sorted(effects)) or "none"
                raise ScenarioError(
                    stub.where, f"stubs.{name}: no flow declares this effect (effects: {known})"
                )
            if effect.get("kind") == "emit" and not stub.emit_marker:
                raise ScenarioError(
                    stub.where,
                    f"stubs.{name}: an emit effect completes at once; its records go to the "
                    "outbox (check them with expect_emitted); write `emit` or drop the stub",
                )
            if stub.emit_marker and effect.get("kind") != "emit":
                raise ScenarioError(stub.where, f"stubs.{name}: `emit` only names emit effects")
            for outcome in stub.outcomes:
                if outcome.has_callback and not effect.get("callback"):
                    raise ScenarioError(
                        outcome.where, f"stubs.{name}: the effect has no callback to resolve"
                    )

    def _flow(self, flow: str | None, where: Where) -> str:
        flows = self._flows()
        if flow is not None:
            if flow not in flows:
                raise _StepFailedError(
                    StepFailure(
                        where, "flow", f"no loaded flow {flow!r} (loaded: {', '.join(flows)})"
                    )
                )
            return flow
        if len(flows) == 1:
            return flows[0]
        raise ScenarioError(where, f"this scenario loads flows {', '.join(flows)}: name the `flow`")

    # ------------------------------------------------------------ steps

    async def run(self, step: Step) -> None:
        label = _label(step)
        self.note(f"{step.where}: {label}")
        assert self.rt is not None
        try:
            message = await self._apply(self.rt, step)
        except (ScenarioError, _StepFailedError):
            raise
        except Exception as exc:
            # A bug in the interpreter (or a store failure), not in the scenario:
            # report it at the step that hit it rather than crash the whole run.
            message = f"the interpreter raised {type(exc).__name__}: {exc}"
        if message is None:
            message = self._stub_problem()
        if message is not None:
            raise _StepFailedError(StepFailure(step.where, label, message))

    async def _apply(self, rt: Runtime, step: Step) -> str | None:
        if isinstance(step, EventStep):
            record = IncomingRecord(
                value=step.value,
                headers=step.headers,
                record_key=step.record_key,
                source=step.source,
                timestamp_ms=self.clock.now_ms(),
            )
            (outcome,) = await rt.ingest_events(step.topic, [record])
            problem = _ingest_problem("event", step.outcome, outcome.status, outcome.reasons)
            return problem or await self._settle()
        if isinstance(step, SignalStep):
            flow = self._flow(step.flow, step.where)
            outcome = await rt.signal(flow, step.key, step.name, step.value, step.signal_id)
            problem = _ingest_problem("signal", step.outcome, outcome.status, outcome.reasons)
            return problem or await self._settle()
        if isinstance(step, CallbackStep):
            return await self._callback(rt, step)
        if isinstance(step, AdvanceStep):
            return await self._advance(rt, step)
        if isinstance(step, OperatorStep):
            flow = self._flow(step.flow, step.where)
            try:
                if step.action == "retry":
                    await rt.retry_incident(flow, step.key)
                else:
                    await rt.cancel(flow, step.key, step.reason)
            except UnknownInstanceError as exc:
                return str(exc)
            return await self._settle()
        if isinstance(step, RestartStep):
            return await self._restart(rt, step)
        if isinstance(step, ExpectInstance):
            return await check_instance(rt, self._flow(step.flow, step.where), step)
        if isinstance(step, ExpectCalls):
            calls_flow = step.flow
            if calls_flow is None and step.key is not None:
                calls_flow = self._flow(None, step.where)
            return await check_calls(rt, calls_flow, step)
        if isinstance(step, ExpectEmitted):
            return await check_emitted(rt, step)
        assert isinstance(step, ExpectDeadLetters)
        return await check_dead_letters(rt, step)

    async def _advance(self, rt: Runtime, step: AdvanceStep) -> str | None:
        now = self.clock.now_ms()
        if step.to_ms is not None:
            if step.to_ms < now:
                return (
                    f"cannot go back in time: it is already {_iso(now)}, after {_iso(step.to_ms)}"
                )
            ms = step.to_ms - now
        else:
            ms = step.ms or 0
        try:
            await asyncio.wait_for(rt.advance(ms), SETTLE_TIMEOUT_S)
        except TimeoutError:
            return _stuck()
        return await self._settle()

    async def _callback(self, rt: Runtime, step: CallbackStep) -> str | None:
        flow = self._flow(step.flow, step.where) if step.key is not None or step.flow else None
        rows = [
            row
            for row in await rt.store.effect_calls("awaiting_callback", flow=flow, key=step.key)
            if row.effect == step.effect and row.callback_token
        ]
        if not rows:
            calls = [
                f"{r.call_id} [{r.status}]"
                for r in await rt.store.effect_calls(flow=flow, key=step.key)
                if r.effect == step.effect
            ]
            return (
                f"no call to {step.effect!r} is waiting for a callback "
                f"(its calls: {', '.join(calls) or 'none'})"
            )
        if len(rows) > 1:
            keys = ", ".join(f"{r.flow}/{r.key}" for r in rows)
            return f"{len(rows)} calls to {step.effect!r} await a callback ({keys}): name the `key`"
        row = rows[0]
        assert row.callback_token is not None
        self.book.callbacks.pop(row.call_id, None)
        ok = step.error is None
        await rt.resolve_callback(row.callback_token, step.value, ok=ok, error=step.error)
        return await self._settle()

    async def _restart(self, rt: Runtime, step: RestartStep) -> str | None:
        await rt.drain_and_stop(close_store=False)
        for path in step.load:
            self.irs.append(_compile(path, step.where))
        await self._start()
        return await self._settle()

    async def _settle(self) -> str | None:
        """Wait until idle, resolving callbacks the stubs promised, until none is left."""
        assert self.rt is not None
        rt = self.rt
        for _ in range(1000):
            try:
                await asyncio.wait_for(rt.wait_idle(), SETTLE_TIMEOUT_S)
            except TimeoutError:
                return _stuck()
            resolved = False
            for call_id, planned in list(self.book.callbacks.items()):
                row = await rt.store.effect_call(call_id)
                if row is None or row.status != "awaiting_callback":
                    continue
                del self.book.callbacks[call_id]
                await rt.resolve_callback(
                    planned.token, planned.value, ok=planned.error is None, error=planned.error
                )
                resolved = True
            if not resolved:
                return None
        return "callbacks kept arriving: more than 1000 rounds"

    def _stub_problem(self) -> str | None:
        problems = self.book.take_problems()
        if not problems:
            return None
        return "; ".join(f"{p.message} (stub at {p.where})" for p in problems)

    async def verify(self) -> None:
        """Replay every instance's journal and compare with its snapshot."""
        if not self.scenario.verify:
            return
        assert self.store is not None
        report = await verify_store(self.store, env=self.scenario.env)
        if report.mismatches:
            where = self.scenario.steps[-1].where
            text = "; ".join(f"{m.flow}/{m.key}: {m.problem}" for m in report.mismatches)
            raise _StepFailedError(
                StepFailure(
                    where, "replay (after the last step)", f"the journal does not rebuild: {text}"
                )
            )
        self.note(
            f"replayed {report.instances} instance(s) from {report.journal_entries} journal entries"
        )


def _ingest_problem(what: str, expected: str, status: str, reasons: Sequence[str]) -> str | None:
    if status == expected:
        return None
    why = f": {'; '.join(reasons)}" if reasons else ""
    return f"expected the {what} to be {expected}, but it was {status}{why}"


def _stuck() -> str:
    return (
        f"the runtime did not become idle within {SETTLE_TIMEOUT_S:.0f}s "
        "(an effect that never returns?)"
    )


def _iso(ms: int) -> str:
    from ..expr_values import Timestamp, format_timestamp

    return format_timestamp(Timestamp(ms))


def _label(step: Step) -> str:
    """A short description of a step for progress lines and failures."""
    if isinstance(step, EventStep):
        return f"event on {step.topic}"
    if isinstance(step, SignalStep):
        return f"signal {step.name} to {step.key}"
    if isinstance(step, CallbackStep):
        return f"callback of {step.effect}"
    if isinstance(step, AdvanceStep):
        return "advance" if step.to_ms is None else f"advance_to {_iso(step.to_ms)}"
    if isinstance(step, OperatorStep):
        return f"{step.action} {step.key}"
    if isinstance(step, RestartStep):
        return "restart" + (f" loading {', '.join(p.name for p in step.load)}" if step.load else "")
    if isinstance(step, ExpectInstance):
        return f"expect {step.key}"
    if isinstance(step, ExpectCalls):
        return f"expect_calls {step.effect}"
    if isinstance(step, ExpectEmitted):
        return f"expect_emitted {step.topic}"
    return "expect_dead_letters"
