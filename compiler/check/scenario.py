"""Traces as `flowd test` scenarios: the inputs, the effects' outcomes as stubs, and
an `expect` after every step, so a replay on the real interpreter shows where a
trace and the runtime part ways.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ...dsl.durations import format_duration
from .domains import subexpressions
from .model import KEY, Model
from .semantics import Config, Step

FAILURE = "flowc check: the call fails for good"


def scenario_text(
    model: Model,
    *,
    flow_file: str,
    scenario_file: str,
    title: str,
    steps: Sequence[tuple[Step, Config]],
    final: dict[str, Any] | None = None,
    before_last: dict[str, Any] | None = None,
) -> str:
    """The YAML text of a scenario replaying `steps` (each with the configuration it leads to)."""
    stubs: dict[str, Any] = {}
    body: list[dict[str, Any]] = []
    payloads = _deferred_payloads(steps)
    for n, (step, config) in enumerate(steps):
        if step.kind == "timer" and step.advance_ms:
            body.append({"advance": format_duration(step.advance_ms)})
        if step.kind == "event":
            topic = model.definition["events"][step.name]["topic"]
            body.append({"event": {"topic": topic, "value": payloads.get(n, step.payload)}})
            if step.advance_ms:
                body.append({"advance": format_duration(step.advance_ms)})
        elif step.kind == "signal":
            signal: dict[str, Any] = {"key": KEY, "name": step.name}
            value = payloads.get(n, step.payload)
            if value:
                signal["value"] = value
            body.append({"signal": signal})
        for outcome in step.outcomes:
            effect = model.definition["effects"][outcome.effect]
            if effect["kind"] == "emit":
                continue
            stubs.setdefault(outcome.effect, []).append(
                _stub(effect, outcome.ok, outcome.value, outcome.items)
            )
        if n == len(steps) - 2 and before_last:
            body.append({"expect": {"key": KEY, **before_last}})
        if step.overdue and n < len(steps) - 1:
            continue  # the runtime fires the due timer before it is idle: no state to see here
        expect: dict[str, Any] = {"key": KEY, "status": config.status}
        if config.status in ("active", "completed"):
            expect["state"] = config.state
        if n == len(steps) - 1 and final:
            expect.update(final)
        body.append({"expect": expect})
    for name, effect in model.definition["effects"].items():
        if effect["kind"] == "emit":
            stubs[name] = "emit"
    doc: dict[str, Any] = {
        "scenario": title,
        "flow": os.path.relpath(Path(flow_file).resolve(), Path(scenario_file).resolve().parent),
    }
    env = sorted(_env_names(model.ir))
    if env:
        doc["env"] = {name: f"http://{name.lower().replace('_', '-')}.test" for name in env}
    if stubs:
        doc["stubs"] = stubs
    doc["steps"] = body
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _deferred_payloads(steps: Sequence[tuple[Step, Config]]) -> dict[int, dict[str, Any]]:
    """Payloads for the steps that deferred an input, as chosen when it was re-offered.

    A deferred payload is read first by the state that takes it, so the search picks it
    there; the scenario sends it when the input arrives.
    """
    out: dict[int, dict[str, Any]] = {}
    for n, (step, _) in enumerate(steps):
        for name, payload in step.reoffered:
            for j in range(n, -1, -1):
                earlier = steps[j][0]
                if earlier.name == name and f"deferred {name}" in earlier.note and j not in out:
                    out[j] = payload
                    break
    return out


def _stub(effect: dict[str, Any], ok: bool, value: Any, items: int) -> dict[str, Any]:
    if not ok:
        out: dict[str, Any] = {"error": FAILURE, "fatal": True}
    elif effect.get("callback") is not None:
        out = {"result": {"status": 202, "headers": {}, "body": {}}, "callback": value}
    else:
        out = {"result": value if value is not None else {}}
    if items > 1:
        out["times"] = items
    return out


def _env_names(ir: dict[str, Any]) -> set[str]:
    names = set()
    for sub in subexpressions(ir["definition"]):
        if sub.get("op") == "field" and sub["target"] == {"op": "name", "name": "env"}:
            names.add(sub["name"])
    return names
