"""A `flowd run` subprocess on a free loopback port, for tests that drive it
as a user would, and its orderly stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def start_flowd(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start `flowd run ARGS --http 127.0.0.1:0` in `cwd`; (process, base URL) once
    it announces where it listens (30 s at most)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowyard.interpreter.cli", "run", *args, "--http", "127.0.0.1:0"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "HTTP on " in line:
            return proc, line.split("HTTP on ", 1)[1].split(";")[0].strip()
    stop_flowd(proc)
    raise AssertionError("flowd did not announce its HTTP address")


def stop_flowd(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (a drain), then kill after 30 s; close its output pipe."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()
