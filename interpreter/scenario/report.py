"""`flowd test`: run scenario files and print one line per scenario, then a summary.

    PASS  examples/scenarios/order_review_approved.scenario.yaml  a big order ...  (12/12 steps)
    FAIL  tests/scenarios/timers_after.scenario.yaml  after timers are armed ...  (5/24 steps)
          tests/scenarios/timers_after.scenario.yaml:9: expect a: timers/a: state: expected
          'expired', found 'waiting'
    ERROR tests/scenarios/bad.scenario.yaml
          tests/scenarios/bad.scenario.yaml:4: stubs.pay outcome: unknown field 'reslt'
          (did you mean 'result'?)

Exit code: 0 when every scenario passed, 1 when some step failed, 2 when a
scenario file could not be run at all (and none failed).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.text import Text

from .runner import ScenarioResult, run_scenario_file

EXIT_OK, EXIT_FAILED, EXIT_BAD = 0, 1, 2


def expand(paths: Sequence[str]) -> list[Path]:
    """Scenario files named directly, or every `*.scenario.yaml` under a named folder."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found.extend(sorted(path.rglob("*.scenario.yaml")))
        else:
            found.append(path)
    return found


def run_scenarios(paths: Sequence[str], *, verbose: bool = False, out: TextIO) -> int:
    """Run every scenario, print the report to `out`, return the exit code."""
    console = Console(
        file=out,
        highlight=False,
        soft_wrap=True,
        no_color=bool(os.environ.get("NO_COLOR")) or None,
    )
    # The runtime logs incidents and failed attempts as warnings; scenarios expect
    # many of them, so only --verbose shows them, among the steps and transitions.
    logger = logging.getLogger("flowyard")
    level = logger.level
    logger.setLevel(logging.WARNING if verbose else logging.ERROR)
    handler = _ConsoleHandler(console)
    if verbose:
        logger.addHandler(handler)
    try:
        return _run_files(console, paths, verbose=verbose, out=out)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class _ConsoleHandler(logging.Handler):
    """Prints the runtime's warnings on the report's console, indented like steps."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        self._console.print(Text("      warning: " + record.getMessage(), style="yellow"))


def _run_files(console: Console, paths: Sequence[str], *, verbose: bool, out: TextIO) -> int:
    files = expand(paths)
    if not files:
        console.print("no scenario files found", markup=False)
        return EXIT_BAD
    results: list[ScenarioResult] = []
    for file in files:

        def step_line(line: str) -> None:
            console.print(Text("      " + line, style="dim"))

        result = asyncio.run(
            run_scenario_file(
                file,
                on_step=step_line if verbose else None,
                transitions=out if verbose else None,
            )
        )
        results.append(result)
        _print(console, result)
    return _summary(console, results)


def _print(console: Console, result: ScenarioResult) -> None:
    if result.error is not None:
        console.print(Text.assemble(("ERROR ", "bold red"), str(result.path)))
        for line in str(result.error).splitlines():
            console.print(Text("      " + line))
        return
    detail = f"  ({result.steps_run}/{result.steps_total} steps, {result.seconds:.2f}s)"
    if result.failure is None:
        console.print(
            Text.assemble(
                ("PASS  ", "bold green"), str(result.path), f"  {result.name}", (detail, "dim")
            )
        )
        return
    console.print(
        Text.assemble(("FAIL  ", "bold red"), str(result.path), f"  {result.name}", (detail, "dim"))
    )
    console.print(Text("      " + str(result.failure)))


def _summary(console: Console, results: list[ScenarioResult]) -> int:
    passed = sum(1 for r in results if r.passed)
    failed = sum(1 for r in results if r.failure is not None)
    bad = sum(1 for r in results if r.error is not None)
    parts = [f"{passed} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if bad:
        parts.append(f"{bad} could not run")
    style = "bold green" if passed == len(results) else "bold red"
    console.print(Text(", ".join(parts), style=style))
    if failed:
        return EXIT_FAILED
    if bad:
        return EXIT_BAD
    return EXIT_OK
