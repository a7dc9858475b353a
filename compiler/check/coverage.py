"""`--generate-tests`: scenarios that take every transition the exploration reached.

Generated tests must pass on the real interpreter, so they are not cut from the
abstract graph (where a cell such as "between 0 and 3" hides that a counter needs
two more steps): a second, concrete search follows only exact steps, telling
configurations apart by their witness data too. For each transition not yet
covered, it takes the shortest concrete run that takes it, then the shortest
concrete way from there to a final state.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .run import CheckReport
from .scenario import scenario_text
from .semantics import Config, Step, Witness, initial, successors

CONCRETE_BUDGET = 5_000
CATCH = "catch:"

Path_ = list[tuple[Step, Config, Witness]]


@dataclass(slots=True)
class Suite:
    flow: str
    folder: Path
    transitions: list[str]
    catches: list[str] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    caught: set[str] = field(default_factory=set)
    files: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [t for t in self.transitions if t not in self.covered]

    def summary(self) -> str:
        text = (
            f"{self.flow}: {len(self.files)} scenarios in {self.folder} cover "
            f"{len(self.covered)}/{len(self.transitions)} transitions"
        )
        if self.catches:
            caught = len(self.caught & set(self.catches))
            text += f" and {caught}/{len(self.catches)} catches"
        if self.missing:
            text += f"; not covered: {', '.join(self.missing)}"
        return text


def generate_tests(report: CheckReport, *, folder: Path) -> Suite:
    suite = Suite(report.flow, folder, report.transitions(), report.catches())
    config, witness = initial(report.model)
    firsts: dict[str, Path_] = {}

    # Only what the exploration reached can be found; the search stops once it has all that.
    taken = report.graph.taken
    goals = [t for t in suite.transitions if t in taken]
    goals += [CATCH + t for t in suite.catches if ("catch", t) in report.caught_seen()]

    def takes_new(path: Path_) -> bool:
        step = path[-1][0]
        for transition in step.taken:
            firsts.setdefault(transition, path)
            if f"catch {transition}" in step.note:
                firsts.setdefault(CATCH + transition, path)
        return len(firsts) == len(goals)

    _search(report, config, witness, takes_new)
    for goal in goals:
        done = suite.caught if goal.startswith(CATCH) else suite.covered
        if goal.removeprefix(CATCH) in done or goal not in firsts:
            continue
        path = list(firsts[goal])
        _, end, end_witness = path[-1]
        if end.status == "active":
            path += _search(report, end, end_witness, lambda p: p[-1][1].status == "completed")
        for step, _, _ in path:
            suite.covered.update(step.taken)
            suite.caught.update(t for t in step.taken if f"catch {t}" in step.note)
        file = folder / f"{report.flow}_{len(suite.files) + 1:03d}.scenario.yaml"
        last = path[-1][1]
        what = f"the catch of {goal.removeprefix(CATCH)}" if goal.startswith(CATCH) else goal
        title = f"flowc check --generate-tests: takes {what}" + (
            f", then completes in {last.state}" if last.status == "completed" else ""
        )
        steps = [(step, c) for step, c, _ in path]
        text = scenario_text(
            report.model, flow_file=report.file, scenario_file=str(file), title=title, steps=steps
        )
        suite.files.append((file, text))
    return suite


def _search(
    report: CheckReport, config: Config, witness: Witness, goal: Callable[[Path_], bool]
) -> Path_:
    """Breadth first over exact steps only, until `goal` says a path is enough (or the budget)."""
    start = _key(config, witness)
    parents: dict[object, tuple[object, Step, Config, Witness] | None] = {start: None}
    queue = deque([(start, config, witness)])
    while queue and len(parents) < CONCRETE_BUDGET:
        key, c, w = queue.popleft()
        for step, c2, w2, _ in successors(report.model, c, w):
            if not step.exact:
                continue
            k2 = _key(c2, w2)
            path = [*_path(parents, key), (step, c2, w2)]
            if goal(path):
                return path
            if k2 not in parents:
                parents[k2] = (key, step, c2, w2)
                queue.append((k2, c2, w2))
    return []


def _path(parents: dict[object, tuple[object, Step, Config, Witness] | None], key: object) -> Path_:
    out: Path_ = []
    link = parents[key]
    while link is not None:
        previous, step, c, w = link
        out.append((step, c, w))
        link = parents[previous]
    out.reverse()
    return out


def _key(config: Config, witness: Witness) -> object:
    return (config, json.dumps(witness.data, sort_keys=True, default=str))
