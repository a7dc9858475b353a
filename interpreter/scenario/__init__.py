"""Scenario tests: YAML files that drive the real interpreter on virtual time.

`flowd test SCENARIO...` runs them (see docs/testing.md for the format);
`run_scenario_file` runs one from Python and returns a `ScenarioResult`.
"""

from .load import load_scenario, parse_scenario
from .report import run_scenarios
from .runner import ScenarioResult, StepFailure, run_scenario, run_scenario_file
from .spec import Scenario, ScenarioError, Where

__all__ = [
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "StepFailure",
    "Where",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
    "run_scenario_file",
    "run_scenarios",
]
