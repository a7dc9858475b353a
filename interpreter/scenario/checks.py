"""The `expect*` steps: read what the real runtime did and compare.

Each check returns None when it holds, else a message saying what was
expected and what was found. Instances come from the runtime; effect calls,
emitted records and dead letters from the store, which is the record the
interpreter itself keeps.
"""

from __future__ import annotations

from typing import Any

from ..model import EventInput, SignalInput
from ..runtime import Runtime, UnknownVersionError
from .matching import difference, show
from .spec import ExpectCalls, ExpectDeadLetters, ExpectEmitted, ExpectInstance


async def check_instance(rt: Runtime, flow: str, step: ExpectInstance) -> str | None:
    """`expect:` one instance's state, status, data, version, incident, timers, deferred."""
    instance = await rt.get_instance(flow, step.key)
    name = f"{flow}/{step.key}"
    if instance is None:
        if not step.exists:
            return None
        return f"{name}: expected an instance, but there is none (no input created it)"
    if not step.exists:
        return f"{name}: expected no instance, found one in state {instance.state!r}"
    problems: list[str] = []
    if step.state is not None and instance.state != step.state:
        problems.append(f"state: expected {step.state!r}, found {instance.state!r}")
    if step.status is not None and instance.status != step.status:
        extra = ""
        if instance.incident is not None:
            extra = f" (incident: {instance.incident.reason})"
        problems.append(f"status: expected {step.status!r}, found {instance.status!r}{extra}")
    if step.data is not None:
        if step.data_exact:
            if instance.data != step.data:
                problems.append(
                    f"data: expected exactly {show(step.data)}, found {show(instance.data)}"
                )
        else:
            found = difference(step.data, instance.data, "data")
            if found is not None:
                problems.append(found)
    if step.version is not None:
        try:
            version: int | str = rt.version(instance.ir_hash).version
        except UnknownVersionError:
            version = f"an unknown IR {instance.ir_hash}"
        if version != step.version:
            problems.append(f"version: expected {step.version}, found {version}")
    if step.incident is not None:
        if instance.incident is None:
            problems.append(f"incident: expected one mentioning {step.incident!r}, found none")
        elif step.incident not in instance.incident.reason:
            problems.append(
                f"incident: expected a reason mentioning {step.incident!r}, "
                f"found {instance.incident.reason!r}"
            )
    if step.timers is not None:
        armed = sorted(instance.timers)
        if armed != sorted(step.timers):
            problems.append(f"timers: expected {sorted(step.timers)}, found {armed}")
    if step.deferred is not None:
        names = [
            d.name if isinstance(d, EventInput | SignalInput) else d.kind for d in instance.deferred
        ]
        if names != list(step.deferred):
            problems.append(f"deferred: expected {list(step.deferred)}, found {names}")
    if not problems:
        return None
    return f"{name}: " + "; ".join(problems)


async def check_calls(rt: Runtime, flow: str | None, step: ExpectCalls) -> str | None:
    """`expect_calls:` the effect calls of one effect (optionally of one instance)."""
    rows = [
        row
        for row in await rt.store.effect_calls(flow=flow, key=step.key)
        if row.effect == step.effect
    ]
    whose = f" for {flow}/{step.key}" if step.key is not None else ""
    name = f"calls to {step.effect!r}{whose}"
    summary = (
        ", ".join(f"{r.call_id} [{r.status}, {r.attempts} attempt(s)]" for r in rows) or "none"
    )
    if step.count is not None and len(rows) != step.count:
        return f"{name}: expected {step.count} call(s), found {len(rows)}: {summary}"
    if step.attempts is not None:
        total = sum(r.attempts for r in rows)
        if total != step.attempts:
            return f"{name}: expected {step.attempts} attempt(s) in all, found {total}: {summary}"
    if step.status is not None:
        for row in rows:
            if row.status != step.status:
                return (
                    f"{name}: expected every call to be {step.status!r}, "
                    f"but {row.call_id} is {row.status!r}"
                    + (f" ({row.error})" if row.error else "")
                )
    if step.args is not None:
        found_args = [_args(r.request) for r in rows]
        if step.args_each:
            for row, args in zip(rows, found_args, strict=True):
                diff = difference(step.args, args, "args")
                if diff is not None:
                    return f"{name}: call {row.call_id}: {diff}"
            if not rows:
                return f"{name}: expected calls with args {show(step.args)}, found no call"
        else:
            expected = list(step.args) if isinstance(step.args, list) else [step.args]
            if len(expected) != len(rows):
                return (
                    f"{name}: expected {len(expected)} call(s) with args {show(expected)}, "
                    f"found {len(rows)} with args {show(found_args)}"
                )
            for index, (want, got) in enumerate(zip(expected, found_args, strict=True)):
                diff = difference(want, got, f"args of call {index + 1}")
                if diff is not None:
                    return f"{name}: {diff}"
    if step.same_idempotency_key:
        for row in rows:
            attempts = await rt.store.attempts(row.call_id)
            if not attempts:
                return f"{name}: call {row.call_id} has no recorded attempt"
            keys = {a.idempotency_key for a in attempts}
            if keys != {row.idempotency_key}:
                return (
                    f"{name}: the attempts of {row.call_id} carried idempotency keys "
                    f"{sorted(keys)}, expected only {row.idempotency_key!r}"
                )
        distinct = {r.idempotency_key for r in rows}
        if len(distinct) != len(rows):
            return f"{name}: two calls share one idempotency key: {summary}"
    return None


def _args(request: Any) -> Any:
    return request.get("args") if isinstance(request, dict) else None


async def check_emitted(rt: Runtime, step: ExpectEmitted) -> str | None:
    """`expect_emitted:` records emitted to a topic, in order."""
    records: list[tuple[str | None, Any]] = [
        (r.key, r.value) for r in await rt.store.read_log(step.topic)
    ]
    records += [(r.key, r.value) for r in await rt.store.pending_outbox() if r.topic == step.topic]
    if step.key is not None:
        records = [r for r in records if r[0] == step.key]
    values = [value for _, value in records]
    whose = f" with key {step.key!r}" if step.key is not None else ""
    name = f"records emitted to {step.topic!r}{whose}"
    if step.count is not None and len(values) != step.count:
        return f"{name}: expected {step.count}, found {len(values)}: {show(values)}"
    if step.values is not None:
        if len(step.values) != len(values):
            return (
                f"{name}: expected {len(step.values)} record(s) {show(list(step.values))}, "
                f"found {len(values)} {show(values)}"
            )
        for index, (want, got) in enumerate(zip(step.values, values, strict=True)):
            diff = difference(want, got, f"record {index + 1}")
            if diff is not None:
                return f"{name}: {diff}"
    return None


async def check_dead_letters(rt: Runtime, step: ExpectDeadLetters) -> str | None:
    """`expect_dead_letters:` the dead letters so far (optionally of one topic), in order."""
    letters = await rt.store.dead_letters()
    if step.topic is not None:
        letters = [d for d in letters if d.topic == step.topic]
    reasons = [d.reason for d in letters]
    if step.count is not None and len(letters) != step.count:
        return f"dead letters: expected {step.count}, found {len(letters)}: {show(reasons)}"
    if step.reasons is not None:
        if len(step.reasons) != len(reasons):
            return (
                f"dead letters: expected {len(step.reasons)} with reasons mentioning "
                f"{show(list(step.reasons))}, found {len(reasons)}: {show(reasons)}"
            )
        for index, (want, got) in enumerate(zip(step.reasons, reasons, strict=True)):
            if want not in got:
                return (
                    f"dead letter {index + 1}: expected a reason mentioning {want!r}, found {got!r}"
                )
    return None
