"""What a scenario file says, once loaded: frozen dataclasses, one per step kind.

The loader (`load.py`) builds these from YAML and rejects anything malformed
with a `ScenarioError` naming file and line; the runner (`runner.py`) executes
them. Every step keeps its `Where` so a failed assertion can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a scenario file (1-based line)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class ScenarioError(Exception):
    """A scenario file that cannot be run: unreadable, not YAML, or malformed.

    The message starts with `file:line:` and says what is wrong and how to fix it.
    """

    def __init__(self, where: Where | str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


# ---------------------------------------------------------------- stubs

OutcomeKind = Literal["result", "error", "status", "timeout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StubOutcome:
    """What one attempt of a stubbed effect does.

    `kind` result: return `value`; error: raise (retryable unless `fatal`);
    status: fail like an HTTP response with that status (`value` is its body);
    timeout: fail as a timed-out attempt. `when` restricts the outcome to
    attempts whose args contain it (subset match); `times` is how many
    attempts it serves (None: any number). `callback` / `callback_error`
    resolve the call's callback once the effect has accepted the request.
    """

    where: Where
    kind: OutcomeKind
    value: Any = None
    status: int | None = None
    fatal: bool = False
    when: Any = None
    times: int | None = 1
    callback: Any = None
    has_callback: bool = False
    callback_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectStub:
    """The outcomes of one effect, consumed in order (`emit_marker`: an `emit` effect
    named only to say its records are expected in the outbox)."""

    effect: str
    where: Where
    outcomes: tuple[StubOutcome, ...] = ()
    emit_marker: bool = False


# ---------------------------------------------------------------- steps

IngestExpectation = Literal["accepted", "dead_lettered", "ignored", "duplicate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventStep:
    """Offer one record on a topic (as Kafka or HTTP ingress would)."""

    where: Where
    topic: str
    value: Any
    """The payload: a JSON value, or `bytes` of raw text (from `raw:`)."""
    headers: dict[str, str] = field(default_factory=dict)
    record_key: str | None = None
    source: str | None = None
    outcome: IngestExpectation = "accepted"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalStep:
    """Deliver a named signal to one instance."""

    where: Where
    flow: str | None
    key: str
    name: str
    value: Any
    signal_id: str | None = None
    outcome: IngestExpectation = "accepted"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackStep:
    """Resolve (or fail) the callback an effect call is waiting for."""

    where: Where
    effect: str
    flow: str | None
    key: str | None
    value: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvanceStep:
    """Move virtual time by `ms`, or to the absolute time `to_ms`."""

    where: Where
    ms: int | None = None
    to_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorStep:
    """An operator action on an instance: `retry` an incident or `cancel`."""

    where: Where
    action: Literal["retry", "cancel"]
    flow: str | None
    key: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartStep:
    """Stop the runtime and start a new one on the same store, optionally with
    more flow files (`load`, e.g. a newer version of a flow)."""

    where: Where
    load: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectInstance:
    """Assert one instance's state, status, data, version, incident, timers."""

    where: Where
    flow: str | None
    key: str
    exists: bool = True
    state: str | None = None
    status: str | None = None
    data: Any = None
    data_exact: bool = False
    version: int | None = None
    incident: str | None = None
    timers: tuple[str, ...] | None = None
    deferred: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectCalls:
    """Assert the calls made to one effect (from the store's effect-call records)."""

    where: Where
    effect: str
    flow: str | None = None
    key: str | None = None
    count: int | None = None
    attempts: int | None = None
    args: Any = None
    args_each: bool = False
    status: str | None = None
    same_idempotency_key: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectEmitted:
    """Assert the records emitted to a topic (the outbox, relayed to the log)."""

    where: Where
    topic: str
    key: str | None = None
    count: int | None = None
    values: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectDeadLetters:
    """Assert the dead letters stored so far."""

    where: Where
    count: int | None = None
    reasons: tuple[str, ...] | None = None
    topic: str | None = None


Step: TypeAlias = (
    EventStep
    | SignalStep
    | CallbackStep
    | AdvanceStep
    | OperatorStep
    | RestartStep
    | ExpectInstance
    | ExpectCalls
    | ExpectEmitted
    | ExpectDeadLetters
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A whole scenario file."""

    name: str
    path: Path
    flows: tuple[Path, ...]
    start_ms: int
    env: dict[str, str]
    stubs: dict[str, EffectStub]
    steps: tuple[Step, ...]
    python_path: tuple[Path, ...]
    flow_where: Where
    verify: bool = True
