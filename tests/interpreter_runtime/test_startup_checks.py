"""`flowd run` refuses to start, one line per problem, when a flow reads an env name
that was not passed or names a python effect that cannot be imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flowyard.compiler.api import compile_text
from flowyard.interpreter.runtime.effects.python import PythonEffectLoader
from flowyard.interpreter.startup_checks import env_names_read, startup_problems

ROOT = Path(__file__).resolve().parents[2]

FLOW = """\
flow: needs
version: 1
key: id
events:
  Opened: {topic: needs, key: event.id}
effects:
  good: {python: "effects_here:good"}
  no_module: {python: "effects_nowhere:go"}
  no_function: {python: "effects_here:missing"}
  web: {http: {method: GET, url: "${ env.BASE_URL + '/x' }"}}
initial: open
states:
  open:
    on:
      Opened:
        - when: env["MODE"] == "on"
          do: [{call: good}, {call: no_module}, {call: no_function}, {call: web}]
          goto: done
  done: {final: true}
"""


def compile_needs() -> dict[str, object]:
    ir, diagnostics = compile_text(FLOW, file="needs.flow.yaml", surface="yaml")
    assert ir is not None, "\n".join(str(d) for d in diagnostics)
    return ir


@pytest.fixture
def effects_dir(tmp_path: Path) -> Path:
    (tmp_path / "effects_here.py").write_text(
        "async def good(args, ctx):\n    return None\n", encoding="utf-8"
    )
    return tmp_path


def test_the_env_names_a_flow_reads() -> None:
    assert sorted(set(env_names_read(compile_needs()["definition"]))) == ["BASE_URL", "MODE"]


def test_each_problem_is_one_line(effects_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.setenv("MODE", "on")
    problems = startup_problems(
        [compile_needs()], {}, PythonEffectLoader(search_path=[str(effects_dir)])
    )
    assert problems == [
        "needs reads env.BASE_URL, which is not set: set it and pass --env BASE_URL",
        "needs reads env.MODE, which is set but not passed: add --env MODE",
        "needs: effect no_function (effects_here:missing):"
        " module 'effects_here' has no attribute 'missing'",
        "needs: effect no_module (effects_nowhere:go):"
        " cannot import module 'effects_nowhere': No module named 'effects_nowhere'",
    ]
    assert all("\n" not in p for p in problems)


def test_nothing_to_say_when_everything_is_there(effects_dir: Path) -> None:
    ir = compile_text(
        FLOW.replace("effects_nowhere:go", "effects_here:good").replace(
            "effects_here:missing", "effects_here:good"
        ),
        file="needs.flow.yaml",
        surface="yaml",
    )[0]
    assert ir is not None
    loader = PythonEffectLoader(search_path=[str(effects_dir)])
    assert startup_problems([ir], {"BASE_URL": "x", "MODE": "on"}, loader) == []


def test_flowd_run_exits_2_before_opening_the_store(tmp_path: Path) -> None:
    """The README's quickstart without CARRIER_URL: refused at start, not an hour later."""
    env = {k: v for k, v in os.environ.items() if k != "CARRIER_URL"}
    db = tmp_path / "flowd.db"
    done = subprocess.run(
        [sys.executable, "-m", "flowyard.interpreter.cli", "run",
         "examples/order_fulfillment.flow.yaml", "--store", str(db), "--no-http",
         "--exit-when-idle", "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "flowd: error: order_fulfillment reads env.CARRIER_URL, which is not set:"
        " set it and pass --env CARRIER_URL"
    ]
    assert not db.exists()
