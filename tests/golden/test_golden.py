"""Golden tests: `flowc validate` output for one small invalid flow per diagnostic code.

Each case is `cases/<FYnnn>_<what>.flow.yaml` (or `.flow`) with the expected text
output in `<case name>.txt` and the JSON output in `<case name>.json`. Run with
FLOWYARD_UPDATE_GOLDEN=1 to (re)write the expected files, then review the diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flowyard.compiler.cli import main
from flowyard.dsl.diagnostics import CODES
from support.golden import check_golden

CASES = Path(__file__).resolve().parent / "cases"
CASE_NAME = re.compile(r"^(FY\d{3})_[a-z0-9_]+$")
# Warnings about the machine flowc runs on (env names, python effects), and the
# env name their case reads, which the test makes sure is unset.
MACHINE_CODES = ("FY408", "FY510")
UNSET_ENV_NAME = "FLOWYARD_GOLDEN_CARRIER_URL"


def case_name(path: Path) -> str:
    return path.name.removesuffix(".yaml").removesuffix(".flow")


def case_files() -> list[Path]:
    return sorted([*CASES.glob("*.flow.yaml"), *CASES.glob("*.flow")])


def run_validate(
    path: Path, fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.chdir(CASES)
    monkeypatch.setenv("NO_COLOR", "1")
    argv = ["validate", path.name, "--format", fmt]
    if path.name.startswith(MACHINE_CODES):
        monkeypatch.delenv(UNSET_ENV_NAME, raising=False)
    else:
        # The other cases show their own code, not what this machine lacks.
        argv.append("--no-machine-checks")
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


@pytest.mark.parametrize("path", case_files(), ids=case_name)
def test_case(
    path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    yaml_parser: str,  # each case is checked with libyaml and with the pure-Python parser
) -> None:
    name = case_name(path)
    m = CASE_NAME.match(name)
    assert m, f"case {path.name} should be named FYnnn_what_it_shows"
    code = m.group(1)
    assert code in CODES, f"{code} is not in the registry"

    text_exit, text = run_validate(path, "text", capsys, monkeypatch)
    json_exit, out = run_validate(path, "json", capsys, monkeypatch)
    diagnostics = json.loads(out)

    assert code in {d["code"] for d in diagnostics}, f"{path.name} does not produce {code}"
    has_error = any(d["severity"] == "error" for d in diagnostics)
    unreadable = any(d["code"] == "FY001" for d in diagnostics)
    assert text_exit == json_exit == (2 if unreadable else 1 if has_error else 0)
    for d in diagnostics:
        assert d["line"] >= 1 or d["code"] == "FY001", d
        assert d["hint"], f"{d['code']} has no hint"
    check_golden(CASES / f"{name}.txt", text)
    check_golden(CASES / f"{name}.json", out)


def test_every_code_has_a_case() -> None:
    covered = {case_name(p)[:5] for p in case_files()}
    # FY6xx are findings of `flowc check`, not of validate: tests/check/cases has theirs.
    missing = sorted(c for c in set(CODES) - covered if not c.startswith("FY6"))
    assert not missing, f"diagnostic codes without a golden case: {', '.join(missing)}"


def test_no_stale_expected_files() -> None:
    names = {case_name(p) for p in case_files()}
    stale = sorted(
        p.name for p in CASES.iterdir() if p.suffix in {".txt", ".json"} and p.stem not in names
    )
    assert not stale, f"expected files without a case: {stale}"
