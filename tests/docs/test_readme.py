"""The README's picture and error example are what flowc prints today."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from flowyard.compiler.cli import main as flowc

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def run_flowc(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = flowc(argv)
    return code, out.getvalue()


def test_readme_mermaid_is_the_current_graph() -> None:
    shown = re.search(r"```mermaid\n(.*?)```", README, re.DOTALL)
    assert shown is not None
    code, drawn = run_flowc(["graph", str(ROOT / "examples" / "order_fulfillment.flow.yaml")])
    assert code == 0
    assert shown.group(1).strip() == drawn.strip()


def test_readme_error_example_is_what_flowc_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in the quickstart: run from the repository, with the carrier's URL set.
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CARRIER_URL", "http://127.0.0.1:9")
    source = (ROOT / "examples" / "order_fulfillment.flow.yaml").read_text()
    broken = tmp_path / "order.flow.yaml"
    broken.write_text(source.replace("goto: shipped", "goto: shiped"))
    shown = re.search(r"```text\n\$ flowc validate order.flow.yaml\n(.*?)```", README, re.DOTALL)
    assert shown is not None
    code, printed = run_flowc(["--color", "never", "validate", str(broken)])
    assert code == 1
    assert printed.replace(str(broken), "order.flow.yaml").strip() == shown.group(1).strip()


def test_readme_commands_exist() -> None:
    for script in re.findall(r"^(scripts/\S+\.sh)$", README, re.MULTILINE):
        assert (ROOT / script).is_file(), script
