"""A `flowd run` child process that a crash test kills and starts again.

Every start appends `--- start N` and the child's output to one file, so a
failure shows what each run said.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


class RestartedFlowd:
    """Mixed into a crash test's dataclass, which declares `output`, `proc` and `starts`."""

    output: Path
    proc: subprocess.Popen[bytes] | None
    starts: int

    def launch(
        self,
        run_args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start `flowd run RUN_ARGS...` (the next start of this child)."""
        self.starts += 1
        with self.output.open("ab") as out:
            out.write(f"--- start {self.starts}\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flowyard.interpreter.cli", "run", *run_args],
                cwd=cwd,
                env=None if env is None else dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def tail(self) -> str:
        return self.output.read_text(errors="replace")[-4000:]
