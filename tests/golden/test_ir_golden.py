"""Golden IR for the examples: lowering changes show up here, and so do hash changes.

Running instances are pinned to the IR hash, so a change in what the compiler
emits for an unchanged flow must be deliberate. FLOWYARD_UPDATE_GOLDEN=1
rewrites `ir/<example>.ir.json`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flowyard.compiler.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXPECTED = Path(__file__).resolve().parent / "ir"
UPDATE = os.environ.get("FLOWYARD_UPDATE_GOLDEN") == "1"


def flows() -> list[Path]:
    return sorted(EXAMPLES.glob("*.flow.yaml"))


@pytest.mark.parametrize("path", flows(), ids=lambda p: p.name)
def test_example_ir_is_unchanged(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES)
    capsys.readouterr()
    assert main(["compile", path.name]) == 0
    actual = capsys.readouterr().out
    expected = EXPECTED / (path.name.removesuffix(".flow.yaml") + ".ir.json")
    if UPDATE:
        expected.write_text(actual, encoding="utf-8")
    assert expected.exists(), f"run with FLOWYARD_UPDATE_GOLDEN=1 to create {expected.name}"
    assert actual == expected.read_text(encoding="utf-8")


def test_no_stale_golden_ir() -> None:
    names = {p.name.removesuffix(".flow.yaml") for p in flows()}
    stale = [
        p.name for p in EXPECTED.glob("*.ir.json") if p.name.removesuffix(".ir.json") not in names
    ]
    assert not stale
