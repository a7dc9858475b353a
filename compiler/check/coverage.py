"""`--generate-tests`: scenarios that take every transition the exploration reached.

For each transition not yet covered: the shortest trace that takes it, extended by
a shortest way to a final state. The extension is replayed step by step from the
trace's own witness (not the stored one of each configuration), so the payloads,
stub results and times of one scenario belong to one concrete run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .explore import distances_to_final
from .run import CheckReport
from .scenario import scenario_text
from .semantics import Config, Step, Witness, successors


@dataclass(slots=True)
class Suite:
    flow: str
    folder: Path
    transitions: list[str]
    covered: set[str] = field(default_factory=set)
    files: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [t for t in self.transitions if t not in self.covered]

    def summary(self) -> str:
        text = (
            f"{self.flow}: {len(self.files)} scenarios in {self.folder} cover "
            f"{len(self.covered)}/{len(self.transitions)} transitions"
        )
        if self.missing:
            text += f"; not covered: {', '.join(self.missing)}"
        return text


def generate_tests(report: CheckReport, *, folder: Path) -> Suite:
    graph = report.graph
    suite = Suite(report.flow, folder, report.transitions())
    dist = distances_to_final(graph) if graph.complete else {}
    for transition in suite.transitions:
        if transition in suite.covered or transition not in graph.taken:
            continue
        source, step, _ = graph.taken[transition]
        steps = [(s, n.config) for s, n in graph.trace(source)]
        node = graph.nodes[source]
        after = _follow(report, node.config, node.witness, step)
        if after is None:
            continue
        steps.append((step, after[0]))
        steps.extend(_to_final(report, after[0], after[1], dist))
        for s, _ in steps:
            suite.covered.update(s.taken)
        path = folder / f"{report.flow}_{len(suite.files) + 1:03d}.scenario.yaml"
        end = steps[-1][1]
        title = f"flowc check --generate-tests: takes {transition}" + (
            f", then completes in {end.state}" if end.status == "completed" else ""
        )
        text = scenario_text(
            report.model, flow_file=report.file, scenario_file=str(path), title=title, steps=steps
        )
        suite.files.append((path, text))
    return suite


def _follow(
    report: CheckReport, config: Config, witness: Witness, step: Step
) -> tuple[Config, Witness] | None:
    for candidate, config_after, witness_after, _ in successors(report.model, config, witness):
        if candidate == step:
            return config_after, witness_after
    return None


def _to_final(
    report: CheckReport, config: Config, witness: Witness, dist: dict[int, int]
) -> list[tuple[Step, Config]]:
    out: list[tuple[Step, Config]] = []
    index = report.graph.index
    while config.status == "active" and index.get(config) in dist:
        here = dist[index[config]]
        options = [
            (not step.exact, step, c, w)
            for step, c, w, _ in successors(report.model, config, witness)
            if dist.get(index.get(c, -1), here) < here
        ]
        if not options:
            break
        _, step, config, witness = min(options, key=lambda o: (o[0], dist[index[o[2]]]))
        out.append((step, config))
    return out
