"""The checker's entry point: IR in, a report of findings out. Pure; nothing prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...dsl.spans import Span
from .explore import DEFAULT_BUDGET, Graph, explore
from .model import Model, build_model, transitions_of
from .rules import RULES, Finding, find
from .scenario import scenario_text
from .semantics import Config, Step
from .suppress import Allow, allowances, apply

DEFAULT_RULES = frozenset(r.name for r in RULES if r.enabled)


@dataclass(slots=True)
class CheckReport:
    file: str
    model: Model
    graph: Graph
    findings: list[Finding]
    allows: list[Allow] = field(default_factory=list)

    @property
    def flow(self) -> str:
        return str(self.model.ir["flow"])

    @property
    def complete(self) -> bool:
        return self.graph.complete

    @property
    def configurations(self) -> int:
        return len(self.graph.nodes)

    @property
    def shown(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is None]

    @property
    def suppressed(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is not None]

    @property
    def bad_allows(self) -> list[Allow]:
        return [a for a in self.allows if a.rule is None or a.reason is None]

    def transitions(self) -> list[str]:
        return [
            t["id"]
            for state in self.model.definition["states"].values()
            for t, _ in transitions_of(state)
        ]

    def caught_seen(self) -> set[tuple[str, str]]:
        """("catch", transition) for each transition whose catch the exploration ran."""
        return {
            ("catch", t)
            for edges in self.graph.edges
            for _, step in edges
            for t in step.taken
            if f"catch {t}" in step.note
        }

    def catches(self) -> list[str]:
        """The transitions with a `catch`."""
        return [
            t["id"]
            for state in self.model.definition["states"].values()
            for t, _ in transitions_of(state)
            if t["catch"] is not None
        ]

    def span(self, pointer: str) -> Span:
        """The source span of an IR pointer, or of its nearest ancestor that has one."""
        spans: dict[str, list[int]] = self.model.ir.get("source", {}).get("spans", {})
        while pointer not in spans and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        line, column, end_line, end_column = spans.get(pointer, [0, 0, 0, 0])
        return Span(
            file=self.file, line=line, column=column, end_line=end_line, end_column=end_column
        )

    def trace(self, finding: Finding) -> list[tuple[Step, Config]]:
        """The finding's shortest trace: each step with the configuration it leads to."""
        if finding.node is None:
            return []
        steps = [(step, node.config) for step, node in self.graph.trace(finding.node)]
        if finding.step is not None:
            steps.append((finding.step, _after(self, finding)))
        return steps

    def scenario(self, finding: Finding, *, flow_file: str, scenario_file: str) -> str | None:
        """A `flowd test` scenario replaying the finding's trace, or None when it has none."""
        steps = self.trace(finding)
        if not steps:
            return None
        expect = finding.expect
        return scenario_text(
            self.model,
            flow_file=flow_file,
            scenario_file=scenario_file,
            title=f"flowc check: {finding.rule.code} {finding.rule.name}: {finding.message}",
            steps=steps,
            final=None if expect is None else expect.fields,
            before_last=None if expect is None else expect.before_last,
        )


def _after(report: CheckReport, finding: Finding) -> Config:
    """The configuration a finding's last step leads to (found again among the edges)."""
    assert finding.node is not None
    for target, step in report.graph.edges[finding.node]:
        if step is finding.step:
            return report.graph.nodes[target].config
    # A step past the budget: its configuration was never stored; rebuild it.
    from .semantics import successors

    node = report.graph.nodes[finding.node]
    for step, config, _, _ in successors(report.model, node.config, node.witness):
        if step == finding.step:
            return config
    return node.config


def check_ir(
    ir: dict[str, Any],
    *,
    file: str,
    source: str | None = None,
    budget: int = DEFAULT_BUDGET,
    rules: frozenset[str] = DEFAULT_RULES,
) -> CheckReport:
    """Explore a compiled flow and report the enabled rules' findings.

    `source` is the flow's text, read for `# flowc: allow` suppressions.
    """
    model = build_model(ir)
    graph = explore(model, budget)
    findings = find(model, graph, set(rules))
    allows = allowances(source) if source is not None else []
    apply(findings, allows)
    return CheckReport(file, model, graph, findings, allows)
