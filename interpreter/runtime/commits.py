"""One step's result as one store commit.

`step()` returns a snapshot and commands; everything the commands ask the
store to remember (timers, outbox rows, effect calls, callback tokens) goes
into the same `StepCommit` as the snapshot and the journal entry, so a crash
either keeps the whole step or none of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..immutable import immutable
from ..model import (
    CALLBACK_TIMER_PREFIX,
    ArmTimer,
    AwaitCallback,
    CancelTimer,
    Emit,
    Input,
    Instance,
    RunEffect,
    StepResult,
    TimerInput,
)
from ..program import Program
from ..replay import trace_to_json
from ..store import (
    CallbackRegistration,
    EffectCallUpdate,
    InstanceRow,
    JournalEntry,
    JsonObject,
    NewEffectCall,
    OutboxMessage,
    StepCommit,
    TimerRow,
)
from .effects.callbacks import callback_token


@immutable(kw_only=True)
class CallRequest:
    """What an effect call row stores in `request`: enough to re-issue it."""

    ir_hash: str
    action_id: str
    args: Any

    def to_json(self) -> dict[str, Any]:
        return {"ir_hash": self.ir_hash, "action_id": self.action_id, "args": self.args}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CallRequest:
        return cls(ir_hash=str(obj["ir_hash"]), action_id=str(obj["action_id"]), args=obj["args"])


def instance_row(instance: Instance, now_ms: int) -> InstanceRow:
    """The store row of a snapshot."""
    return InstanceRow(
        instance.flow,
        instance.key,
        instance.ir_hash,
        instance.seq,
        instance.state,
        instance.status,
        instance.to_json(),  # the snapshot
        now_ms,  # updated_ms
    )


def step_commit(
    result: StepResult,
    inp: Input,
    *,
    input_json: JsonObject | None = None,
    inbox_id: int | None,
    now_ms: int,
    program: Program,
    secret: bytes,
) -> StepCommit:
    """The commit for applying `inp` (inbox row `inbox_id`, None for an input
    applied on arrival, which has no row) with outcome `result`.

    `input_json` is `inp.to_json()` when the caller has it already.
    A call to an effect with a callback stores its token (an HMAC of the call
    id under `secret`) from the start, so a callback that races ahead of the
    step accepting the request still finds its call.
    """
    instance = result.instance
    journal = JournalEntry(
        instance.seq - 1,
        inp.to_json() if input_json is None else input_json,
        trace_to_json(result.trace, result.commands),
        inp.at_ms,
    )
    consumed = () if inbox_id is None else (inbox_id,)
    if not result.commands and not isinstance(inp, TimerInput):
        # Most steps: a snapshot and a journal entry, nothing more to remember
        # (a timer input may close a callback's call: `_callback_expired`).
        return StepCommit(
            instance.flow, instance.key, instance_row(instance, now_ms), journal, consumed
        )
    armed: list[TimerRow] = []
    cancelled: list[str] = []
    outbox: list[OutboxMessage] = []
    calls: list[NewEffectCall] = []
    callbacks: list[CallbackRegistration] = []
    for command in result.commands:
        if isinstance(command, ArmTimer):
            cancelled = [t for t in cancelled if t != command.timer_id]
            armed = [t for t in armed if t.timer_id != command.timer_id]
            armed.append(
                TimerRow(
                    flow=instance.flow,
                    key=instance.key,
                    timer_id=command.timer_id,
                    due_ms=command.due_ms,
                )
            )
        elif isinstance(command, CancelTimer):
            armed = [t for t in armed if t.timer_id != command.timer_id]
            cancelled.append(command.timer_id)
        elif isinstance(command, Emit):
            outbox.append(
                OutboxMessage(
                    topic=command.topic,
                    key=command.key,
                    value=command.value,
                    headers=dict(command.headers),
                    dedup_key=command.dedup_key,
                )
            )
        elif isinstance(command, RunEffect):
            request = CallRequest(
                ir_hash=instance.ir_hash, action_id=command.action_id, args=command.args
            )
            calls.append(
                NewEffectCall(
                    call_id=command.call_id,
                    effect=command.effect,
                    request=request.to_json(),
                    idempotency_key=command.idempotency_key,
                    callback_token=(
                        callback_token(secret, command.call_id)
                        if program.effects[command.effect].callback_timeout_ms is not None
                        else None
                    ),
                )
            )
        elif isinstance(command, AwaitCallback):
            token = callback_token(secret, command.call_id)
            callbacks.append(CallbackRegistration(call_id=command.call_id, token=token))
    return StepCommit(
        effect_updates=_callback_expired(inp, now_ms),
        flow=instance.flow,
        key=instance.key,
        instance=instance_row(instance, now_ms),
        journal=journal,
        consumed=consumed,
        timers_armed=tuple(armed),
        timers_cancelled=tuple(cancelled),
        outbox=tuple(outbox),
        effect_calls=tuple(calls),
        callbacks=tuple(callbacks),
    )


def _callback_expired(inp: Input, now_ms: int) -> tuple[EffectCallUpdate, ...]:
    """A callback timeout closes its call, so a late callback is refused (a call
    whose callback won the race has left `awaiting_callback` and stays as it is)."""
    if not isinstance(inp, TimerInput) or not inp.timer_id.startswith(CALLBACK_TIMER_PREFIX):
        return ()
    update = EffectCallUpdate(
        call_id=inp.timer_id.removeprefix(CALLBACK_TIMER_PREFIX),
        status="failed",
        error="callback timed out",
        at_ms=now_ms,
        only_from="awaiting_callback",
    )
    return (update,)
