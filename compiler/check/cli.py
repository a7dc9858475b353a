"""`flowc check`: the command line around `check_ir`.

This is the one module of the checker allowed to reach the interpreter, and only
for `--confirm`: replaying a finding's scenario needs the real runtime, which the
compiler never imports. The import is lazy and happens here, in the CLI layer,
so `flowyard.compiler.check` itself stays interpreter-free (a test checks this).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ...dsl.diagnostics import Diagnostic
    from ...dsl.load import Surface
    from ..render import Line
    from .run import CheckReport

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


class Session(Protocol):
    sources: dict[str, str]

    def read(self, file: str, surface: Surface | None) -> tuple[str, str, Surface]: ...
    def report(self, diagnostics: Sequence[Diagnostic], stream: TextIO) -> None: ...
    def write_lines(self, lines: Sequence[Line], stream: TextIO) -> None: ...


def configure(p: argparse.ArgumentParser) -> None:
    from .explore import DEFAULT_BUDGET
    from .rules import RULES

    names = [r.name for r in RULES]
    p.add_argument("files", nargs="+", metavar="FILE", help="flow files")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help=f"stop after N configurations with an 'incomplete' verdict (default {DEFAULT_BUDGET})",
    )
    p.add_argument("--enable", action="append", default=[], choices=names, metavar="RULE",
                   help="turn on a rule that is off by default (guard-overlap)")  # fmt: skip
    p.add_argument("--disable", action="append", default=[], choices=names, metavar="RULE",
                   help="turn a rule off")  # fmt: skip
    p.add_argument("--show-suppressed", action="store_true", help="also list suppressed findings")
    p.add_argument("--scenarios", metavar="DIR", help="write each finding's trace as a scenario")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="replay each trace on the real interpreter (flowd test) and mark what it reproduces",
    )
    p.add_argument(
        "--generate-tests",
        metavar="DIR",
        help="write scenarios covering every transition, and report the coverage",
    )


def run(session: Session, args: argparse.Namespace) -> int:
    from ...dsl.diagnostics import has_errors
    from ..api import compile_text
    from .rules import RULES
    from .run import check_ir

    rules = frozenset(
        r.name for r in RULES if (r.enabled or r.name in args.enable) and r.name not in args.disable
    )
    writes = args.scenarios or args.confirm or args.generate_tests
    if writes and "-" in args.files:
        # A scenario names its flow by a path relative to itself; standard input has none.
        sys.stderr.write(
            "flowc: error: --scenarios, --confirm and --generate-tests need flow files\n"
        )
        return EXIT_USAGE
    if args.budget < 1:
        sys.stderr.write("flowc: error: --budget must be at least 1\n")
        return EXIT_USAGE
    reports: list[CheckReport] = []
    failed = False
    for file in args.files:
        name, text, surface = session.read(file, args.surface)
        ir, diagnostics = compile_text(text, file=name, surface=surface)
        if diagnostics:
            session.report(diagnostics, sys.stderr)
        if ir is None or has_errors(diagnostics):
            failed = True
            continue
        report = check_ir(ir, file=name, source=text, budget=args.budget, rules=rules)
        if args.scenarios or args.confirm:
            _scenarios(report, args)
        if args.generate_tests:
            _generate(
                report,
                Path(args.generate_tests),
                sys.stderr if args.format == "json" else sys.stdout,
            )
        reports.append(report)
        if args.format == "text":
            _text(session, report, args)
    if args.format == "json":
        from .report import render_json

        sys.stdout.write(render_json(reports))
    return _exit_code(reports, failed)


def _text(session: Session, report: CheckReport, args: argparse.Namespace) -> None:
    from ..render import source_lookup
    from .report import render_report

    lines = render_report(
        report, sources=source_lookup(session.sources), show_suppressed=args.show_suppressed
    )
    session.write_lines(lines, sys.stdout)


def _exit_code(reports: list[CheckReport], failed: bool) -> int:
    from ...dsl.diagnostics import CODES, Severity

    if failed:
        return EXIT_ERRORS
    for report in reports:
        if any(CODES[f.rule.code].severity is Severity.ERROR for f in report.shown):
            return EXIT_ERRORS
    if any(not r.complete for r in reports):
        return EXIT_INCOMPLETE
    return EXIT_OK


def _scenarios(report: CheckReport, args: argparse.Namespace) -> None:
    if args.scenarios:
        _write_scenarios(report, Path(args.scenarios), args.confirm, keep=True)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="flowc-check-") as folder:
        _write_scenarios(report, Path(folder), args.confirm, keep=False)


def _write_scenarios(report: CheckReport, folder: Path, replay: bool, *, keep: bool) -> None:
    """Each finding's trace as a scenario in `folder`; `replay` runs them (--confirm)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Any, Path]] = []
    counts: dict[str, int] = {}
    for finding in report.findings:
        stem = f"{report.flow}_{finding.rule.code}_{finding.rule.name}"
        counts[stem] = counts.get(stem, 0) + 1
        path = folder / f"{stem}_{counts[stem]}.scenario.yaml"
        text = report.scenario(finding, flow_file=report.file, scenario_file=str(path))
        if text is None:
            continue
        path.write_text(text, encoding="utf-8")
        written.append((finding, path))
        if keep:
            finding.scenario = str(path)
    if replay:
        results = confirm([p for _, p in written])
        for (finding, _), passed in zip(written, results, strict=True):
            finding.confirmed = passed


def confirm(paths: list[Path]) -> list[bool]:
    """Run scenarios on the real interpreter; True for each that passes (the trace reproduced)."""
    import asyncio
    import logging

    from ...interpreter.scenario import run_scenario_file

    async def all_of() -> list[bool]:
        return [(await run_scenario_file(p)).passed for p in paths]

    # The runtime warns about the incidents a trace is meant to reach; the verdict says it.
    logging.disable(logging.WARNING)
    try:
        return asyncio.run(all_of())
    finally:
        logging.disable(logging.NOTSET)


def _generate(report: CheckReport, folder: Path, stream: TextIO) -> None:
    from .coverage import generate_tests

    folder.mkdir(parents=True, exist_ok=True)
    suite = generate_tests(report, folder=folder)
    for path, text in suite.files:
        path.write_text(text, encoding="utf-8")
    stream.write(suite.summary() + "\n")
