"""`flowd run` stops, with exit code 1 and why, when its SQLite writer process dies."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

from flowd_process import start_flowd, stop_flowd

FLOW = """\
    flow: pings
    version: 1
    events:
      Ping:
        topic: pings
        key: event.id
    initial: idle
    states:
      idle:
        on:
          Ping: { goto: idle }
"""


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_flowd_stops_when_its_writer_process_is_killed(tmp_path: Path) -> None:
    (tmp_path / "pings.flow.yaml").write_text(textwrap.dedent(FLOW), encoding="utf-8")
    proc, _ = start_flowd(
        "pings.flow.yaml", "--store", str(tmp_path / "f.db"), "--quiet", cwd=tmp_path
    )
    try:
        writers = children(proc.pid)
        assert len(writers) == 1
        os.kill(writers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 1
        assert proc.stdout is not None
        output = proc.stdout.read()
        assert "the store's writer process ended (exit code -9)" in output
        assert "start flowd again to go on" in output
    finally:
        stop_flowd(proc)
