"""Running a benchmark script from the project root, as the smoke tests do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*argv: str, timeout: float = 300) -> str:
    """Run `python ARGV...` from the project root; its standard output (fails
    the test, with both outputs, when it exits with another code than 0)."""
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
