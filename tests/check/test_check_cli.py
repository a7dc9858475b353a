"""`flowc check` beyond the golden cases: suppression, budget, examples, generated tests."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler.cli import main
from flowyard.interpreter.scenario import run_scenario_file

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
EXAMPLES = ROOT / "examples"


def check(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> tuple[int, str]:
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


def json_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> dict[str, Any]:
    _, out = check(capsys, monkeypatch, *argv, "--format", "json")
    (report,) = json.loads(out)
    return report


UNHANDLED = (CASES / "FY601_unhandled_event.flow.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "comment",
    [
        "# flowc: allow unhandled(Shipped) — the carrier resends it",
        "# flowc: allow unhandled-event -- the carrier resends it",
        "# flowc: allow FY601(placed): the carrier resends it",
    ],
)
def test_a_comment_with_a_reason_suppresses_a_finding(
    comment: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = tmp_path / "x.flow.yaml"
    flow.write_text(UNHANDLED + comment + "\n", encoding="utf-8")
    report = json_report(capsys, monkeypatch, str(flow))
    assert report["findings"] == []
    assert [f["code"] for f in report["suppressed"]] == ["FY601"]
    assert "the carrier resends it" in report["suppressed"][0]["suppressed"]
    code, text = check(capsys, monkeypatch, str(flow), "--show-suppressed")
    assert code == 0
    assert "suppressed FY601 unhandled-event (Shipped, placed): the carrier resends it" in text
    assert "1 suppressed" in text


def test_the_dsl_takes_the_same_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dsl = tmp_path / "x.flow"
    source = str(CASES / "FY601_unhandled_event.flow.yaml")
    assert main(["convert", source, "--to", "dsl", "-o", str(dsl)]) == 0
    dsl.write_text(
        dsl.read_text(encoding="utf-8") + "# flowc: allow unhandled(Shipped) — resent\n",
        encoding="utf-8",
    )
    report = json_report(capsys, monkeypatch, str(dsl))
    assert report["findings"] == [] and len(report["suppressed"]) == 1


@pytest.mark.parametrize(
    ("comment", "why"),
    [
        ("# flowc: allow unhandled(Shipped)", "a reason is required"),
        ("# flowc: allow unhandeld(Shipped) — typo", "no such rule"),
        ("# flowc: allow unhandled(Paid) — another event", None),
    ],
)
def test_a_suppression_that_does_not_apply_leaves_the_finding(
    comment: str,
    why: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = tmp_path / "x.flow.yaml"
    flow.write_text(UNHANDLED + comment + "\n", encoding="utf-8")
    _, text = check(capsys, monkeypatch, str(flow))
    assert "warning[FY601]" in text
    if why is not None:
        assert f"is not applied: {why}" in text


def test_a_small_budget_gives_an_incomplete_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = str(EXAMPLES / "order_fulfillment.flow.yaml")
    code, text = check(capsys, monkeypatch, flow, "--budget", "5")
    assert code == 3
    assert "incomplete: stopped after 5 configurations" in text
    report = json_report(capsys, monkeypatch, flow, "--budget", "5")
    assert report["complete"] is False
    assert not any(f["rule"] in ("no-completion", "unreachable-state") for f in report["findings"])


def test_rules_can_be_turned_off_and_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = str(CASES / "FY605_guard_overlap.flow.yaml")
    assert json_report(capsys, monkeypatch, flow)["findings"] == []
    on = json_report(capsys, monkeypatch, flow, "--enable", "guard-overlap")
    assert [f["code"] for f in on["findings"]] == ["FY605"]
    flow = str(CASES / "FY601_unhandled_event.flow.yaml")
    assert json_report(capsys, monkeypatch, flow, "--disable", "unhandled-event")["findings"] == []


def test_a_flow_that_does_not_compile_is_reported_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = tmp_path / "bad.flow.yaml"
    flow.write_text("flow: x\nversion: 1\ninitial: nowhere\nstates: {}\n", encoding="utf-8")
    code, out = check(capsys, monkeypatch, str(flow))
    assert code == 1 and out == ""


NEW_USER = """\
flow: refund
version: 1
events:
  Requested: {topic: refunds, match: {type: requested}, key: event.id}
  Refunded: {topic: refunds, match: {type: refunded}, key: event.id}
signals:
  approve: {}
initial: new
states:
  new:
    on:
      Requested: {goto: awaiting_approval}
  awaiting_approval:
    on:
      approve: {goto: refunding}
  refunding:
    on:
      Refunded: {goto: done}
    after:
      1d: {goto: done}
  done:
    final: true
"""


def test_a_new_user_gets_one_clear_finding_per_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A forgotten timeout on the approval, and Refunded not deferred while awaiting it.
    flow = tmp_path / "refund.flow.yaml"
    flow.write_text(NEW_USER, encoding="utf-8")
    report = json_report(capsys, monkeypatch, str(flow), "--confirm")
    by_code = {f["code"]: f for f in report["findings"]}
    assert sorted(by_code) == ["FY601", "FY603"]
    timeout, defer = by_code["FY603"], by_code["FY601"]
    assert "add an 'after' timer to 'awaiting_approval'" in timeout["hint"]
    assert "add 'Refunded' to the 'defer' list of 'awaiting_approval'" in defer["hint"]
    assert [s["input"] for s in defer["trace"]] == ["Requested", "Refunded"]
    assert timeout["confirmed"] and defer["confirmed"]


# The examples' findings, each explained in docs/check.md ("The examples").
EXPECTED_EXAMPLES = {
    "order_fulfillment": [
        ("FY601", ["review", "awaiting_payment"]),
        ("FY604", ["PaymentConfirmed", "awaiting_payment"]),
        ("FY610", ["AddressChanged", "cancelled"]),
    ],
    "subscription": [
        ("FY601", ["PaymentSucceeded", "active"]),
        ("FY601", ["PaymentFailed", "active"]),
        ("FY601", ["PaymentFailed", "suspended"]),
    ],
    "webhook_fanout": [],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
@pytest.mark.parametrize("suffix", [".flow.yaml", ".flow"])
def test_the_examples_findings_are_the_documented_ones(
    name: str, suffix: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = json_report(capsys, monkeypatch, str(EXAMPLES / f"{name}{suffix}"))
    assert report["complete"]
    found = sorted((f["code"], f["subjects"]) for f in report["findings"])
    assert found == sorted(EXPECTED_EXAMPLES[name])
    doc = (ROOT / "docs" / "check.md").read_text(encoding="utf-8")
    for code, subjects in EXPECTED_EXAMPLES[name]:
        assert f"`{name}`: {code} {subjects[0]} in {subjects[1]}" in doc


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
async def test_generated_tests_cover_every_transition_and_pass(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "generated"
    code, out = check(
        capsys, monkeypatch, str(EXAMPLES / f"{name}.flow.yaml"), "--generate-tests", str(folder)
    )
    assert code == 0
    summary = next(line for line in out.splitlines() if " scenarios in " in line)
    covered, total = summary.split(" cover ")[1].split(" ")[0].split("/")
    assert covered == total and "not covered" not in summary
    files = sorted(folder.glob("*.scenario.yaml"))
    assert files
    for file in files:
        result = await run_scenario_file(file)
        assert result.passed, (file.name, result.failure, result.error)


def test_the_checker_never_imports_the_interpreter_outside_its_cli() -> None:
    # compiler/check/cli.py may, lazily, for --confirm: the CLI layer. Nothing else may.
    for path in sorted((ROOT / "compiler" / "check").glob("*.py")):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert "interpreter" not in (node.module or ""), path.name
            elif isinstance(node, ast.Import):
                assert not any("interpreter" in a.name for a in node.names), path.name


FLOWS = ROOT / "tests" / "scenarios" / "flows"


@pytest.mark.parametrize("flow", sorted(FLOWS.glob("*.flow.yaml")), ids=lambda p: p.name)
async def test_generated_tests_pass_for_the_projects_scenario_flows(
    flow: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    check(capsys, monkeypatch, str(flow), "--generate-tests", str(tmp_path))
    for file in sorted(tmp_path.glob("*.scenario.yaml")):
        result = await run_scenario_file(file)
        assert result.passed, (file.name, result.failure, result.error)


def test_never_reached_claims_survive_computed_values_and_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 'silver' is reached by points added from an event (a sum, not a copy), and Tagged
    # creates instances under a computed key: neither may be called unreachable.
    scoring = json_report(capsys, monkeypatch, str(FLOWS / "always.flow.yaml"))
    reach = ("unreachable-state", "unreachable-transition", "guard-shadowed")
    assert not [f for f in scoring["findings"] if f["rule"] in reach and "silver" in f["subjects"]]
    assert not [f for f in scoring["findings"] if f["rule"] == "guard-shadowed"]
    routing = json_report(capsys, monkeypatch, str(FLOWS / "routing.flow.yaml"))
    assert routing["findings"] == []
    # The 1h timer of 'waiting' can never fire: the 10m one always leaves first.
    timers = json_report(capsys, monkeypatch, str(FLOWS / "timers.flow.yaml"))
    never = [f["subjects"] for f in timers["findings"] if f["rule"] == "unreachable-transition"]
    assert never == [["waiting/after/1/0"]]
