"""A wheel built from the repo works in a fresh virtual environment outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "order_fulfillment.flow.yaml"


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_installs_and_validates_outside_the_checkout(tmp_path: Path) -> None:
    source = tmp_path / "src"
    # Build from a copy so the checkout's build/ and egg-info stay untouched.
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".*"),
    )
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source)], tmp_path)
    wheels = list(dist.glob("flowyard-*.whl"))
    assert len(wheels) == 1

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", str(wheels[0])], tmp_path)

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(EXAMPLE, work / EXAMPLE.name)
    clean_env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    out = run([str(env_dir / "bin" / "flowc"), "validate", EXAMPLE.name], work, clean_env)
    assert "order_fulfillment" in out
    where = "import flowyard.dsl; print(flowyard.dsl.__file__)"
    located = run([str(python), "-c", where], work, clean_env)
    assert str(env_dir) in located and str(ROOT) not in located


def test_every_package_folder_is_listed_in_pyproject() -> None:
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        "flowyard." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("dsl", "compiler", "interpreter")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found == listed
