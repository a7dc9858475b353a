"""A check report for people (diagnostics with a numbered trace) and for tools (JSON).

The head of each finding is printed by the compiler's own diagnostic renderer
(file:line:col, the source line, a caret, the hint); the trace follows it as
`= trace` lines in the same gutter.
"""

from __future__ import annotations

import json
from typing import Any

from ...dsl.diagnostics import Diagnostic, Severity
from ..render import Line, SourceLookup, render_lines
from .rules import Finding
from .run import CheckReport
from .semantics import Config, Step


def finding_diagnostic(report: CheckReport, finding: Finding) -> Diagnostic:
    return Diagnostic(
        code=finding.rule.code,
        message=finding.message,
        span=report.span(finding.pointer),
        hint=finding.hint,
    )


def render_report(
    report: CheckReport, *, sources: SourceLookup, show_suppressed: bool = False
) -> list[Line]:
    """Lines of the text report: each finding, its trace, then a verdict line."""
    out: list[Line] = []
    shown = sorted(report.shown, key=lambda f: (f.rule.code, _where(report, f)))
    for finding in shown:
        if out:
            out.append([])
        head = render_lines(
            [finding_diagnostic(report, finding)], sources=sources, with_summary=False
        )
        out.extend(head)
        gutter = _gutter(head)
        out.append([(f"{gutter} = ", "gutter"), (_status(finding), "hint")])
        out.extend(_trace_lines(report, finding, gutter))
        if finding.scenario:
            out.append([(f"{gutter} = ", "gutter"), (f"scenario: {finding.scenario}", "hint")])
    for allow in report.bad_allows:
        if out:
            out.append([])
        why = "no such rule" if allow.rule is None else "a reason is required"
        out.append(
            [
                (f"{report.file}:{allow.line}:{allow.column}", "location"),
                (": ", None),
                ("warning", "warning"),
                (f": '# flowc: allow {allow.written}' is not applied: {why}", None),
            ]
        )
    if show_suppressed and report.suppressed:
        if out:
            out.append([])
        for finding in report.suppressed:
            subject = ", ".join(finding.subjects)
            out.append(
                [
                    (f"suppressed {finding.rule.code} {finding.rule.name} ({subject}): ", "more"),
                    (str(finding.suppressed), "more"),
                ]
            )
    if out:
        out.append([])
    out.append([(verdict(report), "summary")])
    return out


def _where(report: CheckReport, finding: Finding) -> tuple[int, int]:
    span = report.span(finding.pointer)
    return span.line, span.column


def _gutter(head: list[Line]) -> str:
    for line in head:
        if line and line[0][1] == "gutter":
            return line[0][0].split("|")[0][:-1]
    return " "


def _status(finding: Finding) -> str:
    words = ["must" if finding.must else "may (found under the abstraction)"]
    if finding.confirmed is not None:
        words.append("confirmed by a replay" if finding.confirmed else "not confirmed by a replay")
    return ", ".join(words)


def _trace_lines(report: CheckReport, finding: Finding, gutter: str) -> list[Line]:
    steps = report.trace(finding)
    if not steps:
        return []
    out: list[Line] = [
        [(f"{gutter} = ", "gutter"), (f"trace ({_plural(len(steps), 'step')}):", "hint")]
    ]
    width = len(str(len(steps)))
    for n, (step, config) in enumerate(steps, start=1):
        text = f"{n:>{width}}. {step_text(step)} -> {config_text(report, config)}"
        out.append([(f"{gutter}   ", "gutter"), (text, None)])
    return out


def step_text(step: Step) -> str:
    parts = []
    if step.advance_ms:
        from ...dsl.durations import format_duration

        parts.append(f"after {format_duration(step.advance_ms)},")
    parts.append(step.label)
    if step.note:
        parts.append(f"[{step.note}]")
    return " ".join(parts)


def config_text(report: CheckReport, config: Config) -> str:
    text = config.state if config.status == "active" else f"{config.state} ({config.status})"
    cells = [
        f"{domain.var[1]} {domain.cells[c].label}"
        for domain, c in zip(report.model.domains, config.cells, strict=True)
        if len(domain.cells) > 1
    ]
    extras = []
    if cells:
        extras.append("data: " + ", ".join(cells))
    if config.deferred:
        extras.append("deferred: " + ", ".join(n for n, _ in config.deferred))
    if config.timers:
        extras.append("timers: " + ", ".join(sorted(config.timers)))
    return text + (f"  ({'; '.join(extras)})" if extras else "")


def verdict(report: CheckReport) -> str:
    shown = report.shown
    errors = sum(1 for f in shown if finding_diagnostic(report, f).level is Severity.ERROR)
    warnings = len(shown) - errors
    counts = []
    if errors:
        counts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    if report.suppressed:
        counts.append(f"{len(report.suppressed)} suppressed")
    found = ", ".join(counts) or "no findings"
    scope = (
        f"{report.configurations} configurations explored"
        if report.complete
        else f"incomplete: stopped after {report.configurations} configurations "
        "(raise --budget); liveness and reachability were not checked"
    )
    return f"{report.flow}: {found} ({scope})"


def report_json(report: CheckReport) -> dict[str, Any]:
    def one(finding: Finding) -> dict[str, Any]:
        d = finding_diagnostic(report, finding).to_json()
        d.update(
            rule=finding.rule.name,
            must=finding.must,
            subjects=list(finding.subjects),
            suppressed=finding.suppressed,
            confirmed=finding.confirmed,
            scenario=finding.scenario,
            trace=[
                {
                    "kind": step.kind,
                    "input": step.name,
                    "payload": step.payload,
                    "advance_ms": step.advance_ms,
                    "taken": list(step.taken),
                    "outcomes": [
                        {"effect": o.effect, "ok": o.ok, "value": o.value} for o in step.outcomes
                    ],
                    "note": step.note,
                    "state": config.state,
                    "status": config.status,
                    "data": {
                        domain.var[1]: domain.cells[c].label
                        for domain, c in zip(report.model.domains, config.cells, strict=True)
                    },
                    "deferred": [n for n, _ in config.deferred],
                    "timers": sorted(config.timers),
                }
                for step, config in report.trace(finding)
            ],
        )
        return d

    findings = sorted(report.findings, key=lambda f: (f.rule.code, _where(report, f)))
    return {
        "file": report.file,
        "flow": report.flow,
        "complete": report.complete,
        "configurations": report.configurations,
        "verdict": verdict(report),
        "findings": [one(f) for f in findings if f.suppressed is None],
        "suppressed": [one(f) for f in findings if f.suppressed is not None],
    }


def render_json(reports: list[CheckReport]) -> str:
    return json.dumps([report_json(r) for r in reports], indent=2, default=str) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
