"""Golden tests: `flowc check` on one small flow per rule (FY6xx) and on a clean flow.

Each case is `cases/<FY6nn>_<what>.flow.yaml` (or `clean.flow.yaml`) with the
expected text output in `<case name>.txt` and the JSON in `<case name>.json`.
FLOWYARD_UPDATE_GOLDEN=1 (re)writes the expected files; review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowyard.compiler.check.rules import RULES
from flowyard.compiler.cli import main
from support.golden import check_golden

CASES = Path(__file__).resolve().parent / "cases"


def case_name(path: Path) -> str:
    return path.name.removesuffix(".flow.yaml")


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.flow.yaml"))


def run_check(
    path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
) -> tuple[int, str]:
    monkeypatch.chdir(CASES)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = main(["check", path.name, "--enable", "guard-overlap", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


@pytest.mark.parametrize("path", case_files(), ids=case_name)
def test_case(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = case_name(path)
    text_exit, text = run_check(path, capsys, monkeypatch)
    json_exit, out = run_check(path, capsys, monkeypatch, "--format", "json")
    (report,) = json.loads(out)
    codes = {f["code"] for f in report["findings"]}
    if name == "clean":
        assert codes == set()
    else:
        assert name[:5] in codes, f"{path.name} does not produce {name[:5]}"
    has_error = any(f["severity"] == "error" for f in report["findings"])
    assert text_exit == json_exit == (1 if has_error else 0)
    assert report["complete"]
    for finding in report["findings"]:
        assert finding["line"] >= 1 and finding["hint"], finding
    check_golden(CASES / f"{name}.txt", text)
    check_golden(CASES / f"{name}.json", out)


def test_every_rule_has_a_case() -> None:
    covered = {case_name(p)[:5] for p in case_files()}
    missing = sorted({r.code for r in RULES} - covered)
    assert not missing, f"rules without a golden case: {', '.join(missing)}"


def test_every_must_finding_with_a_trace_is_confirmed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    confirmed = 0
    for path in case_files():
        _, out = run_check(
            path, capsys, monkeypatch, "--format", "json", "--confirm", "--scenarios", str(tmp_path)
        )
        (report,) = json.loads(out)
        for finding in report["findings"]:
            if finding["must"] and finding["trace"]:
                assert finding["confirmed"] is True, (path.name, finding["message"])
                confirmed += 1
            assert (finding["scenario"] is None) == (not finding["trace"])
    assert confirmed >= 10
