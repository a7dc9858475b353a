"""FY408 and FY510: what `flowc validate` says about the machine it runs on."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowyard.compiler.api import parse_text
from flowyard.compiler.cli import main
from flowyard.compiler.machine_checks import env_names, machine_diagnostics, python_effect_problem
from flowyard.dsl.ast import Flow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "order_fulfillment.flow.yaml"

FLOW = """\
flow: demo
version: 1
events:
  Go:
    topic: t
    key: event.id
    schema: {type: object, properties: {id: {type: string}}}
effects:
  hook:
    http: {method: POST, url: "${ env.HOOK_URL }", headers: {X-Token: "${ env['TOKEN'] }"}}
  work:
    python: effects_here.jobs:work
initial: a
states:
  a:
    on:
      Go:
        when: env.HOOK_URL != ''
        do: [{call: hook}, {call: work}]
        goto: b
  b: {final: true}
"""


def parsed(text: str = FLOW) -> Flow:
    flow, diagnostics = parse_text(text, file="demo.flow.yaml", surface="yaml")
    assert flow is not None, diagnostics
    return flow


def package(tmp_path: Path, source: str) -> Path:
    (tmp_path / "effects_here").mkdir()
    (tmp_path / "effects_here" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "effects_here" / "jobs.py").write_text(source, encoding="utf-8")
    return tmp_path


def test_env_names_are_found_once_each_where_first_read() -> None:
    names = env_names(parsed())
    assert list(names) == ["HOOK_URL", "TOKEN"]
    assert (names["HOOK_URL"].line, names["HOOK_URL"].column) == (10, 35)


def test_unset_env_names_and_missing_modules_are_warned(tmp_path: Path) -> None:
    found = machine_diagnostics(parsed(), FLOW, environ={"TOKEN": "t"}, search=[str(tmp_path)])
    assert [(d.code, d.is_error) for d in found] == [("FY408", False), ("FY510", False)]
    assert found[0].message == "`env.HOOK_URL` is not set in this environment"
    assert "effects_here.jobs" in found[1].message
    package(tmp_path, "async def work(args, ctx):\n    return 1\n")
    environ = {"TOKEN": "t", "HOOK_URL": "u"}
    assert machine_diagnostics(parsed(), FLOW, environ=environ, search=[str(tmp_path)]) == []


def test_a_flow_whose_text_never_says_env_is_not_walked_for_names() -> None:
    text = FLOW.replace("env.HOOK_URL", "key").replace("env['TOKEN']", "key")
    found = machine_diagnostics(parsed(text), text, environ={}, search=[])
    assert [d.code for d in found] == ["FY510"]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("async def other(args, ctx): ...\n", "defines no 'work'"),
        ("def work(args, ctx): ...\n", "is a plain function"),
        ("def work(:\n", "does not parse"),
        ("async def work(args, ctx): ...\n", None),
        ("from elsewhere import *\n", None),  # the source cannot tell
        ("def deco(f): return f\n@deco\ndef work(args, ctx): ...\n", None),
        ("from ._impl import work\n", None),
        ("try:\n    from fast import work\nexcept ImportError:\n    work = None\n", None),
        ("def __getattr__(name): ...\n", None),
    ],
)
def test_what_a_module_source_tells(tmp_path: Path, source: str, says: str | None) -> None:
    package(tmp_path, source)
    problem = python_effect_problem("effects_here.jobs:work", [str(tmp_path)])
    if says is None:
        assert problem is None
    else:
        assert problem is not None and says in problem[0]


def test_a_module_that_is_not_a_package_has_no_submodules(tmp_path: Path) -> None:
    (tmp_path / "single.py").write_text("async def work(a, c): ...\n", encoding="utf-8")
    assert python_effect_problem("single:work", [str(tmp_path)]) is None
    problem = python_effect_problem("single.sub:work", [str(tmp_path)])
    assert problem is not None and "is not found" in problem[0]


def test_nothing_is_imported_to_tell(tmp_path: Path) -> None:
    package(tmp_path, "raise SystemExit('imported!')\nasync def work(args, ctx): ...\n")
    (tmp_path / "effects_here" / "__init__.py").write_text("raise SystemExit('no')\n")
    assert python_effect_problem("effects_here.jobs:work", [str(tmp_path)]) is None


def test_validate_warns_and_can_be_told_not_to(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CARRIER_URL", raising=False)
    monkeypatch.chdir(ROOT)
    assert main(["validate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "warning[FY408]: `env.CARRIER_URL` is not set" in out
    assert "FY510" not in out  # examples.shop:reserve_stock is found from the root
    assert main(["validate", "--no-machine-checks", str(EXAMPLE)]) == 0
    assert "FY408" not in capsys.readouterr().out
