"""Bookkeeping of one `call` action: its items, the calls issued, the results collected.

Pure functions from a `CallProgress` to the next one plus the commands to send;
`core.step` decides when to call them. Call ids are `{flow}/{key}/{seq}/{action_id}`
(plus `/{item}` for for_each, plus `/r{n}` after n operator retries) and every
command derived from a call carries the idempotency key of its id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .core_effects import call_id, idempotency_key, render_effect_request
from .expr import ExprError, Scope, pointer_join
from .expr_values import ConversionError, to_json_value, type_name
from .model import CallProgress, Emit, OutstandingCall, RunEffect
from .program import CallAction, Program


def start(action: CallAction, scope: Scope, seq: int) -> CallProgress:
    """Evaluate a call's items and arguments once, at the start of the action.

    Without `with`, a for_each call's argument is its item and a plain call's is `{}`.
    """
    if action.for_each is not None:
        items = action.for_each(scope)
        if not isinstance(items, list):
            raise ExprError(
                f"for_each needs a list, not a {type_name(items)}",
                pointer_join(action.pointer, "for_each"),
            )
        args = []
        for item in items:
            value = item if action.args is None else action.args({**scope, "item": item})
            args.append(_json_arg(value, action))
    else:
        args = [_json_arg({} if action.args is None else action.args(scope), action)]
    return CallProgress(
        action_id=action.id,
        effect=action.effect,
        seq=seq,
        for_each=action.for_each is not None,
        args=tuple(args),
        concurrency=action.concurrency if action.for_each is not None else 1,
    )


def _json_arg(value: Any, action: CallAction) -> Any:
    try:
        return to_json_value(value)
    except ConversionError as exc:
        raise ExprError(str(exc), pointer_join(action.pointer, "args")) from None


def _call_id(flow: str, key: str, progress: CallProgress, item: int | None, retry: int) -> str:
    return call_id(flow, key, progress.seq, progress.action_id, item=item, retry=retry)


def _run(progress: CallProgress, cid: str, args: Any) -> RunEffect:
    return RunEffect(
        call_id=cid,
        effect=progress.effect,
        args=args,
        idempotency_key=idempotency_key(cid),
        action_id=progress.action_id,
    )


def issue(progress: CallProgress, flow: str, key: str) -> tuple[CallProgress, list[RunEffect]]:
    """Issue further items while fewer than `concurrency` calls are outstanding."""
    outstanding = list(progress.outstanding)
    commands = []
    next_item = progress.next_item
    while next_item < len(progress.args) and len(outstanding) < progress.concurrency:
        item = next_item if progress.for_each else None
        cid = _call_id(flow, key, progress, item, 0)
        args = progress.args[next_item]
        outstanding.append(OutstandingCall(call_id=cid, item=item, args=args))
        commands.append(_run(progress, cid, args))
        next_item += 1
    return replace(progress, outstanding=tuple(outstanding), next_item=next_item), commands


def reissue(progress: CallProgress, flow: str, key: str) -> tuple[CallProgress, list[RunEffect]]:
    """RetryIncident: issue the failed calls again under fresh ids (`/r{n}`)."""
    retries = progress.retries + 1
    fresh = []
    commands = []
    for old in progress.failed:
        cid = _call_id(flow, key, progress, old.item, retries)
        fresh.append(OutstandingCall(call_id=cid, item=old.item, args=old.args))
        commands.append(_run(progress, cid, old.args))
    outstanding = (*progress.outstanding, *fresh)
    return replace(progress, outstanding=outstanding, failed=(), retries=retries), commands


def emit_all(
    program: Program, progress: CallProgress, flow: str, key: str, env: Mapping[str, str]
) -> tuple[CallProgress, list[Emit]]:
    """Emit effects complete at once: every record is rendered before any is emitted."""
    records = []
    for i, args in enumerate(progress.args):
        cid = _call_id(flow, key, progress, i if progress.for_each else None, 0)
        records.append((cid, render_effect_request(program, progress.effect, args, key, env)))
    commands = [
        Emit(
            topic=request["topic"],
            key=request["key"],
            value=request["value"],
            headers=request["headers"],
            dedup_key=idempotency_key(cid),
        )
        for cid, request in records
    ]
    results = {i: request["value"] for i, (_, request) in enumerate(records)}
    return replace(progress, next_item=len(progress.args), results=results), commands


def done(progress: CallProgress) -> bool:
    """Every item issued and answered, none failed."""
    return not (progress.outstanding or progress.failed or progress.next_item < len(progress.args))


def collected(progress: CallProgress) -> Any:
    """The value bound to `result`: the list of item results, or the single result."""
    if progress.for_each:
        return [progress.results.get(i) for i in range(len(progress.args))]
    return progress.results.get(0)
