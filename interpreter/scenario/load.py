"""Loading scenario files: YAML in, a checked `Scenario` out, or a `ScenarioError`.

The format is documented in docs/testing.md. Paths (flows, python_path,
restart loads) are relative to the scenario file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .spec import (
    AdvanceStep,
    CallbackStep,
    EffectStub,
    EventStep,
    ExpectCalls,
    ExpectDeadLetters,
    ExpectEmitted,
    ExpectInstance,
    IngestExpectation,
    OperatorStep,
    RestartStep,
    Scenario,
    ScenarioError,
    SignalStep,
    Step,
    StubOutcome,
    Where,
)
from .yamlnodes import Nodes, compose

DEFAULT_START = "2026-01-01T00:00:00Z"

_TOP = ("scenario", "flow", "start", "env", "stubs", "steps", "python_path", "verify")
_OUTCOME_KINDS = ("result", "error", "status", "timeout")
_OUTCOME_FIELDS = (*_OUTCOME_KINDS, "body", "fatal", "when", "times", "callback", "callback_error")
_OUTCOME_COMPANIONS = {"fatal": "error", "body": "status"}
_INGEST: tuple[IngestExpectation, ...] = ("accepted", "dead_lettered", "ignored", "duplicate")
_STATUSES = ("active", "running", "completed", "incident", "cancelled")
_CALL_STATUSES = ("pending", "running", "succeeded", "failed", "awaiting_callback")


def load_scenario(path: str | Path) -> Scenario:
    """Read and check one scenario file; raises ScenarioError naming file and line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(Where(str(file), 1), f"cannot read the scenario: {exc}") from None
    return parse_scenario(text, file)


def parse_scenario(text: str, file: Path) -> Scenario:
    """Check scenario text as if read from `file` (paths resolve next to it)."""
    nodes = Nodes(str(file))
    root = compose(text, str(file))
    top = nodes.mapping(root, "a scenario", allowed=_TOP, required=("scenario", "flow", "steps"))
    base = file.parent
    flows = tuple(_path(nodes, base, n, "flow") for n in _items(nodes, top["flow"]))
    if not flows:
        raise nodes.fail(top["flow"], "flow: name at least one flow file")
    start = nodes.timestamp_ms(top["start"], "start") if "start" in top else None
    env: dict[str, str] = {}
    if "env" in top:
        for name, node in nodes.mapping(top["env"], "env").items():
            env[name] = nodes.string(node, f"env.{name}")
    stubs: dict[str, EffectStub] = {}
    if "stubs" in top:
        for effect, node in nodes.mapping(top["stubs"], "stubs").items():
            stubs[effect] = _stub(nodes, effect, node)
    python_path: tuple[Path, ...] = (base, Path.cwd())
    if "python_path" in top:
        python_path = tuple(
            _path(nodes, base, n, "python_path") for n in _items(nodes, top["python_path"])
        )
    steps = tuple(_step(nodes, base, n) for n in nodes.sequence(top["steps"], "steps"))
    if not steps:
        raise nodes.fail(top["steps"], "steps: a scenario needs at least one step")
    return Scenario(
        name=nodes.string(top["scenario"], "scenario"),
        path=file,
        flows=flows,
        start_ms=start if start is not None else _default_start(),
        env=env,
        stubs=stubs,
        steps=steps,
        python_path=python_path,
        flow_where=nodes.where(top["flow"]),
        verify=nodes.boolean(top["verify"], "verify") if "verify" in top else True,
    )


def _default_start() -> int:
    from ..expr_values import parse_timestamp

    return parse_timestamp(DEFAULT_START).ms


def _items(nodes: Nodes, node: yaml.Node) -> list[yaml.Node]:
    return nodes.sequence(node, "a list") if isinstance(node, yaml.SequenceNode) else [node]


def _path(nodes: Nodes, base: Path, node: yaml.Node, what: str) -> Path:
    return (base / nodes.string(node, what)).resolve()


# ---------------------------------------------------------------- stubs


def _stub(nodes: Nodes, effect: str, node: yaml.Node) -> EffectStub:
    where = nodes.where(node)
    if isinstance(node, yaml.ScalarNode):
        if nodes.value(node) == "emit":
            return EffectStub(effect=effect, where=where, emit_marker=True)
        raise nodes.fail(
            node,
            f"stubs.{effect}: give an outcome ({{result: ...}}, {{error: ...}}, {{status: 503}}, "
            "{timeout: true}) or a list of them; `emit` marks an emit effect",
        )
    if isinstance(node, yaml.MappingNode):
        return EffectStub(
            effect=effect,
            where=where,
            outcomes=(_outcome(nodes, effect, node, default_times=None),),
        )
    items = nodes.sequence(node, f"stubs.{effect}")
    if not items:
        raise nodes.fail(node, f"stubs.{effect}: the list of outcomes is empty")
    outcomes = tuple(_outcome(nodes, effect, item, default_times=1) for item in items)
    return EffectStub(effect=effect, where=where, outcomes=outcomes)


def _outcome(
    nodes: Nodes, effect: str, node: yaml.Node, *, default_times: int | None
) -> StubOutcome:
    what = f"stubs.{effect} outcome"
    entries = nodes.mapping(node, what, allowed=_OUTCOME_FIELDS)
    kinds = [k for k in _OUTCOME_KINDS if k in entries]
    if len(kinds) != 1:
        raise nodes.fail(
            node,
            f"{what}: give exactly one of result, error, status, timeout"
            + (f" (found {', '.join(kinds)})" if kinds else ""),
        )
    kind = kinds[0]
    times: int | None = default_times
    if "times" in entries:
        raw = nodes.value(entries["times"])
        times = (
            None if raw == "any" else nodes.integer(entries["times"], f"{what}: times", minimum=1)
        )
    outcome: dict[str, Any] = {
        "where": nodes.where(node),
        "kind": kind,
        "times": times,
        "when": nodes.value(entries["when"]) if "when" in entries else None,
    }
    if kind == "result":
        outcome["value"] = nodes.value(entries["result"])
    elif kind == "error":
        outcome["value"] = nodes.string(entries["error"], f"{what}: error")
        outcome["fatal"] = nodes.boolean(entries["fatal"], "fatal") if "fatal" in entries else False
    elif kind == "status":
        outcome["status"] = nodes.integer(entries["status"], f"{what}: status", minimum=100)
        outcome["value"] = nodes.value(entries["body"]) if "body" in entries else None
    elif not nodes.boolean(entries["timeout"], f"{what}: timeout"):
        raise nodes.fail(entries["timeout"], f"{what}: write `timeout: true` (or leave it out)")
    for field, owner in _OUTCOME_COMPANIONS.items():
        if field in entries and kind != owner:
            raise nodes.fail(entries[field], f"{what}: {field!r} goes with {owner!r}")
    if "callback" in entries or "callback_error" in entries:
        if kind != "result":
            raise nodes.fail(node, f"{what}: a callback follows an accepted request (`result`)")
        if "callback" in entries and "callback_error" in entries:
            raise nodes.fail(node, f"{what}: give callback or callback_error, not both")
        if "callback" in entries:
            outcome["callback"] = nodes.value(entries["callback"])
            outcome["has_callback"] = True
        else:
            outcome["callback_error"] = nodes.string(entries["callback_error"], "callback_error")
            outcome["has_callback"] = True
    return StubOutcome(**outcome)


# ---------------------------------------------------------------- steps

_STEP_KINDS = (
    "event",
    "signal",
    "callback",
    "advance",
    "advance_to",
    "retry",
    "cancel",
    "restart",
    "expect",
    "expect_calls",
    "expect_emitted",
    "expect_dead_letters",
)


def _step(nodes: Nodes, base: Path, node: yaml.Node) -> Step:
    entries = nodes.mapping(node, "a step", allowed=_STEP_KINDS)
    if len(entries) != 1:
        raise nodes.fail(
            node,
            "a step has exactly one action "
            f"({', '.join(_STEP_KINDS)}); found {', '.join(entries) or 'none'}",
        )
    ((kind, body),) = entries.items()
    where = nodes.where(node)
    if kind == "event":
        return _event(nodes, where, body)
    if kind == "signal":
        return _signal(nodes, where, body)
    if kind == "callback":
        return _callback(nodes, where, body)
    if kind == "advance":
        return AdvanceStep(where=where, ms=nodes.duration_ms(body, "advance"))
    if kind == "advance_to":
        return AdvanceStep(where=where, to_ms=nodes.timestamp_ms(body, "advance_to"))
    if kind in ("retry", "cancel"):
        return _operator(nodes, where, kind, body)
    if kind == "restart":
        return _restart(nodes, base, where, body)
    if kind == "expect":
        return _expect(nodes, where, body)
    if kind == "expect_calls":
        return _expect_calls(nodes, where, body)
    if kind == "expect_emitted":
        return _expect_emitted(nodes, where, body)
    return _expect_dead_letters(nodes, where, body)


def _ingest(nodes: Nodes, entries: dict[str, yaml.Node]) -> IngestExpectation:
    if "outcome" not in entries:
        return "accepted"
    value = nodes.string(entries["outcome"], "outcome")
    for choice in _INGEST:
        if value == choice:
            return choice
    raise nodes.fail(entries["outcome"], f"outcome must be one of {', '.join(_INGEST)}")


def _event(nodes: Nodes, where: Where, node: yaml.Node) -> EventStep:
    entries = nodes.mapping(
        node,
        "event",
        allowed=("topic", "value", "raw", "headers", "record_key", "source", "outcome"),
        required=("topic",),
    )
    if ("value" in entries) == ("raw" in entries):
        raise nodes.fail(node, "event: give the payload as `value` (JSON) or `raw` (text)")
    payload = (
        nodes.value(entries["value"])
        if "value" in entries
        else nodes.string(entries["raw"], "event.raw").encode()
    )
    headers: dict[str, str] = {}
    if "headers" in entries:
        for name, value in nodes.mapping(entries["headers"], "event.headers").items():
            headers[name] = nodes.string(value, f"event.headers.{name}")
    return EventStep(
        where=where,
        topic=nodes.string(entries["topic"], "event.topic"),
        value=payload,
        headers=headers,
        record_key=_opt_str(nodes, entries, "record_key"),
        source=_opt_str(nodes, entries, "source"),
        outcome=_ingest(nodes, entries),
    )


def _signal(nodes: Nodes, where: Where, node: yaml.Node) -> SignalStep:
    entries = nodes.mapping(
        node,
        "signal",
        allowed=("flow", "key", "name", "value", "id", "outcome"),
        required=("key", "name"),
    )
    return SignalStep(
        where=where,
        flow=_opt_str(nodes, entries, "flow"),
        key=nodes.string(entries["key"], "signal.key"),
        name=nodes.string(entries["name"], "signal.name"),
        value=nodes.value(entries["value"]) if "value" in entries else {},
        signal_id=_opt_str(nodes, entries, "id"),
        outcome=_ingest(nodes, entries),
    )


def _callback(nodes: Nodes, where: Where, node: yaml.Node) -> CallbackStep:
    entries = nodes.mapping(
        node, "callback", allowed=("effect", "flow", "key", "value", "error"), required=("effect",)
    )
    if "value" in entries and "error" in entries:
        raise nodes.fail(node, "callback: give value (success) or error (failure), not both")
    return CallbackStep(
        where=where,
        effect=nodes.string(entries["effect"], "callback.effect"),
        flow=_opt_str(nodes, entries, "flow"),
        key=_opt_str(nodes, entries, "key"),
        value=nodes.value(entries["value"]) if "value" in entries else None,
        error=_opt_str(nodes, entries, "error"),
    )


def _operator(nodes: Nodes, where: Where, kind: str, node: yaml.Node) -> OperatorStep:
    allowed = ("flow", "key", "reason") if kind == "cancel" else ("flow", "key")
    entries = nodes.mapping(node, kind, allowed=allowed, required=("key",))
    return OperatorStep(
        where=where,
        action="retry" if kind == "retry" else "cancel",
        flow=_opt_str(nodes, entries, "flow"),
        key=nodes.string(entries["key"], f"{kind}.key"),
        reason=_opt_str(nodes, entries, "reason") or "",
    )


def _restart(nodes: Nodes, base: Path, where: Where, node: yaml.Node) -> RestartStep:
    if isinstance(node, yaml.ScalarNode):
        if nodes.value(node) is True:
            return RestartStep(where=where)
        raise nodes.fail(node, "restart: write `restart: true` or `restart: {load: FILE}`")
    entries = nodes.mapping(node, "restart", allowed=("load",))
    load: tuple[Path, ...] = ()
    if "load" in entries:
        load = tuple(_path(nodes, base, n, "restart.load") for n in _items(nodes, entries["load"]))
    return RestartStep(where=where, load=load)


def _expect(nodes: Nodes, where: Where, node: yaml.Node) -> ExpectInstance:
    entries = nodes.mapping(
        node,
        "expect",
        allowed=(
            "flow",
            "key",
            "exists",
            "state",
            "status",
            "data",
            "data_exact",
            "version",
            "incident",
            "timers",
            "deferred",
        ),
        required=("key",),
    )
    status = _opt_str(nodes, entries, "status")
    if status is not None and status not in _STATUSES:
        raise nodes.fail(entries["status"], f"expect.status must be one of {', '.join(_STATUSES)}")
    if "data" in entries and "data_exact" in entries:
        raise nodes.fail(node, "expect: give data (a subset) or data_exact (all of it), not both")
    data_node = entries.get("data", entries.get("data_exact"))
    if data_node is not None and not isinstance(data_node, yaml.MappingNode):
        raise nodes.fail(data_node, "expect.data must be a mapping of data fields")
    return ExpectInstance(
        where=where,
        flow=_opt_str(nodes, entries, "flow"),
        key=nodes.string(entries["key"], "expect.key"),
        exists=nodes.boolean(entries["exists"], "expect.exists") if "exists" in entries else True,
        state=_opt_str(nodes, entries, "state"),
        status=status,
        data=None if data_node is None else nodes.value(data_node),
        data_exact="data_exact" in entries,
        version=(
            nodes.integer(entries["version"], "expect.version", minimum=1)
            if "version" in entries
            else None
        ),
        incident=_opt_str(nodes, entries, "incident"),
        timers=_opt_strings(nodes, entries, "timers"),
        deferred=_opt_strings(nodes, entries, "deferred"),
    )


def _expect_calls(nodes: Nodes, where: Where, node: yaml.Node) -> ExpectCalls:
    entries = nodes.mapping(
        node,
        "expect_calls",
        allowed=(
            "effect",
            "flow",
            "key",
            "count",
            "attempts",
            "args",
            "status",
            "same_idempotency_key",
        ),
        required=("effect",),
    )
    status = _opt_str(nodes, entries, "status")
    if status is not None and status not in _CALL_STATUSES:
        raise nodes.fail(
            entries["status"], f"expect_calls.status must be one of {', '.join(_CALL_STATUSES)}"
        )
    args_node = entries.get("args")
    return ExpectCalls(
        where=where,
        effect=nodes.string(entries["effect"], "expect_calls.effect"),
        flow=_opt_str(nodes, entries, "flow"),
        key=_opt_str(nodes, entries, "key"),
        count=_opt_int(nodes, entries, "count"),
        attempts=_opt_int(nodes, entries, "attempts"),
        args=None if args_node is None else nodes.value(args_node),
        args_each=isinstance(args_node, yaml.MappingNode),
        status=status,
        same_idempotency_key=(
            nodes.boolean(entries["same_idempotency_key"], "same_idempotency_key")
            if "same_idempotency_key" in entries
            else False
        ),
    )


def _expect_emitted(nodes: Nodes, where: Where, node: yaml.Node) -> ExpectEmitted:
    entries = nodes.mapping(
        node, "expect_emitted", allowed=("topic", "key", "count", "values"), required=("topic",)
    )
    values = None
    if "values" in entries:
        values = tuple(nodes.value(n) for n in nodes.sequence(entries["values"], "values"))
    return ExpectEmitted(
        where=where,
        topic=nodes.string(entries["topic"], "expect_emitted.topic"),
        key=_opt_str(nodes, entries, "key"),
        count=_opt_int(nodes, entries, "count"),
        values=values,
    )


def _expect_dead_letters(nodes: Nodes, where: Where, node: yaml.Node) -> ExpectDeadLetters:
    entries = nodes.mapping(node, "expect_dead_letters", allowed=("count", "reasons", "topic"))
    return ExpectDeadLetters(
        where=where,
        count=_opt_int(nodes, entries, "count"),
        reasons=_opt_strings(nodes, entries, "reasons"),
        topic=_opt_str(nodes, entries, "topic"),
    )


def _opt_str(nodes: Nodes, entries: dict[str, yaml.Node], name: str) -> str | None:
    return nodes.string(entries[name], name) if name in entries else None


def _opt_int(nodes: Nodes, entries: dict[str, yaml.Node], name: str) -> int | None:
    return nodes.integer(entries[name], name) if name in entries else None


def _opt_strings(nodes: Nodes, entries: dict[str, yaml.Node], name: str) -> tuple[str, ...] | None:
    if name not in entries:
        return None
    node = entries[name]
    if isinstance(node, yaml.SequenceNode):
        return tuple(nodes.string(item, name) for item in node.value)
    return (nodes.string(node, name),)
