"""What `flowd run` checks before it opens anything: the flows can run here.

A flow that reads `env.NAME` when NAME was not passed with `--env`, or names a
python effect whose module or function cannot be imported, would start, take
input and fail much later (an hour later, for a timer's call), one instance at
a time. These checks find both at start-up and describe each in one line.
Only what can be told from the IR is checked: an `env[...]` index by an
expression is left to run time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .runtime.effects.python import EffectLoadError, PythonEffectLoader


def env_names_read(node: Any) -> Iterator[str]:
    """The names an IR fragment reads from `env` (`env.NAME`, `env["NAME"]`)."""
    if isinstance(node, list):
        for item in node:
            yield from env_names_read(item)
        return
    if not isinstance(node, dict):
        return
    op = node.get("op")
    target = node.get("target")
    if op in ("field", "index") and target == {"op": "name", "name": "env"}:
        if op == "field" and isinstance(node.get("name"), str):
            yield node["name"]
        index = node.get("index")
        literal = (
            index.get("value") if isinstance(index, dict) and index.get("op") == "lit" else None
        )
        if op == "index" and isinstance(literal, str):
            yield literal
    for value in node.values():
        yield from env_names_read(value)


def _env_problems(flow: str, definition: Any, env: Mapping[str, str]) -> list[str]:
    problems = []
    for name in sorted(set(env_names_read(definition))):
        if name in env:
            continue
        if name in os.environ:
            problems.append(
                f"{flow} reads env.{name}, which is set but not passed: add --env {name}"
            )
        else:
            problems.append(
                f"{flow} reads env.{name}, which is not set: set it and pass --env {name}"
            )
    return problems


def _effect_problems(flow: str, definition: Any, loader: PythonEffectLoader) -> list[str]:
    problems = []
    effects = definition.get("effects") or {}
    for name in sorted(effects):
        spec = effects[name]
        target = spec.get("python") if spec.get("kind") == "python" else None
        if not isinstance(target, dict):
            continue
        module, function = str(target.get("module")), str(target.get("function"))
        try:
            loader.load(module, function)
        except EffectLoadError as exc:
            problems.append(f"{flow}: effect {name} ({module}:{function}): {exc}")
    return problems


def startup_problems(
    irs: Sequence[Mapping[str, Any]],
    env: Mapping[str, str],
    loader: PythonEffectLoader | None = None,
) -> list[str]:
    """One line per reason the flows `irs` cannot run with `env` (empty when they can).

    Python effects are imported as the runtime will import them (relative to the
    working directory, unless `loader` says otherwise).
    """
    loader = loader if loader is not None else PythonEffectLoader()
    problems: list[str] = []
    for ir in irs:
        flow = str(ir.get("flow"))
        definition = ir.get("definition") or {}
        for problem in (
            *_env_problems(flow, definition, env),
            *_effect_problems(flow, definition, loader),
        ):
            if problem not in problems:
                problems.append(problem)
    return problems
