"""A fresh clone of the repository stands alone: its test suite collects with nothing beside it.

The clone goes into an empty temporary folder, so a test module that reads a
file outside its own checkout (the examples were once read from a sibling folder) fails to
collect here. The installed `flowyard` package still resolves to the checkout
under test; what is checked is that no test module reaches outside its clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def git(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(
        ["git", *argv], check=False, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"git {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()


@pytest.mark.timeout(600)
def test_a_fresh_clone_collects_the_whole_suite_alone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed to clone the repository")
    head = git(["rev-parse", "HEAD"], ROOT)
    empty = tmp_path / "empty"
    empty.mkdir()
    clone = empty / "flowyard"
    git(["clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], empty)
    git(["checkout", "--quiet", "--detach", head], clone)
    assert sorted(p.name for p in empty.iterdir()) == ["flowyard"]

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        check=False,
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    report = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, f"collection failed in a fresh clone:\n{report}"
    assert "error" not in done.stdout.lower().rpartition("\n\n")[2], report
    assert " tests collected" in done.stdout or " test collected" in done.stdout, report
