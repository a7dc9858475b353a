"""docs/effects.md stays true: its complete example runs as written, and the python
effect interface is importable from the one public module the docs and examples use."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from flowyard.interpreter.scenario import run_scenario_file

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "effects.md"
PUBLIC = "from flowyard.interpreter.effects import"


def example_files() -> dict[str, str]:
    """The files of the doc's complete example: each fenced block after "`name`:"."""
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"^`([\w.]+)`[^\n]*:\n\n```\w+\n(.*?)^```", text, re.M | re.S)
    return dict(found)


def test_the_interface_is_public() -> None:
    from flowyard.interpreter import effects

    assert set(effects.__all__) == {"EffectContext", "EffectError", "PythonEffect"}
    error = effects.EffectError("out of stock", retryable=False)
    assert (str(error), error.retryable) == ("out of stock", False)


def test_examples_and_docs_import_it_from_the_public_module() -> None:
    users = [*sorted((ROOT / "examples").glob("*.py")), DOC]
    importing = [p for p in users if "EffectContext" in p.read_text(encoding="utf-8")]
    assert len(importing) >= 4
    for path in importing:
        text = path.read_text(encoding="utf-8")
        assert PUBLIC in text, f"{path.name} does not import from flowyard.interpreter.effects"
        assert "interpreter.runtime.effects" not in text, path.name


async def test_the_complete_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = example_files()
    assert sorted(files) == ["charges.flow.yaml", "charges.py", "charges.scenario.yaml"]
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "charges", raising=False)
    result = await run_scenario_file(tmp_path / "charges.scenario.yaml")
    assert result.error is None, result.error
    assert result.passed, result.failure
