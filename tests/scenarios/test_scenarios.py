"""Every scenario file of the project passes on the real interpreter.

The construct scenarios live next to this file; the shared examples' scenarios
in examples/scenarios, which also run against the examples' DSL twins (.flow).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from flowyard.interpreter.scenario import (
    load_scenario,
    parse_scenario,
    run_scenario,
    run_scenario_file,
)
from flowyard.interpreter.scenario.runner import ScenarioResult

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONSTRUCTS = sorted(HERE.glob("*.scenario.yaml"))
EXAMPLES = sorted((ROOT / "examples" / "scenarios").glob("*.scenario.yaml"))


def _explain(result: ScenarioResult) -> str:
    if result.error is not None:
        return f"could not run: {result.error}"
    steps = "\n".join(result.log)
    return f"{result.failure}\nsteps run:\n{steps}"


def test_there_are_scenarios_for_constructs_and_examples() -> None:
    assert _doc_scenarios()
    assert len(CONSTRUCTS) >= 12
    flows = {p.name.split("_")[0] for p in EXAMPLES}
    assert {"order", "subscription", "webhook"} <= flows


@pytest.mark.parametrize("path", CONSTRUCTS + EXAMPLES, ids=lambda p: p.name)
async def test_scenario_passes(path: Path) -> None:
    result = await run_scenario_file(path)
    assert result.passed, _explain(result)
    assert result.steps_run == result.steps_total > 0


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
async def test_example_scenario_passes_on_the_dsl_twin(path: Path) -> None:
    scenario = load_scenario(path)
    twins = tuple(Path(str(flow).removesuffix(".yaml")) for flow in scenario.flows)
    assert all(twin.suffix == ".flow" and twin.is_file() for twin in twins)
    result = await run_scenario(dataclasses.replace(scenario, flows=twins))
    assert result.passed, _explain(result)


def _doc_scenarios() -> list[str]:
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return [block for block in blocks if block.startswith("scenario:")]


@pytest.mark.parametrize("text", _doc_scenarios())
async def test_scenarios_in_the_docs_pass(text: str) -> None:
    scenario = parse_scenario(text, ROOT / "examples" / "scenarios" / "doc.scenario.yaml")
    result = await run_scenario(scenario)
    assert result.passed, _explain(result)
