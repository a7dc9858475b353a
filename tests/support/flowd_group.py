"""Several `flowd run --kafka ... --store postgresql://...` processes sharing one store.

Each `Node` is one flowd child with its own HTTP port and output file; the
scale-out tests start, kill (SIGKILL), pause (SIGSTOP) and stop them, and ask
their `/healthz` which store partitions they hold.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .restarted_flowd import RestartedFlowd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node(RestartedFlowd):
    """One flowd of the group."""

    name: str
    flow: Path
    store: str
    bootstrap: str
    group: str
    output: Path
    extra: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    proc: Any = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.launch(
            [
                str(self.flow),
                *("--store", self.store, "--http", f"127.0.0.1:{self.port}"),
                *("--kafka", self.bootstrap, "--group", self.group),
                *("--quiet", "--log-level", "warning", *self.extra),
            ],
            cwd=cwd,
            env=env,
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def health(self) -> dict[str, Any] | None:
        """`GET /healthz`, or None when the process does not answer."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:
                return dict(json.load(reply))
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def held(self) -> dict[int, int]:
        """The store partitions this node holds (partition -> epoch); {} if silent."""
        health = self.health() or {}
        held = (health.get("partitions") or {}).get("held") or {}
        return {int(p): int(e) for p, e in held.items()}

    def since_start(self) -> str:
        """What this start of the node has written so far."""
        text = self.output.read_text(errors="replace")
        return text.rsplit(f"--- start {self.starts}\n", 1)[-1]


def wait_until_held(nodes: Sequence[Node], partitions: int, *, timeout_s: float = 90) -> float:
    """Wait until the live `nodes` together hold every partition once, each one
    something; the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout_s
    last: list[dict[int, int]] = []
    while time.monotonic() < deadline:
        live = [n for n in nodes if n.alive]
        last = [n.held() for n in live]
        taken = [p for held in last for p in held]
        if sorted(taken) == list(range(partitions)) and all(last):
            return time.monotonic() - started
        time.sleep(0.1)
    tails = "\n".join(f"== {n.name}\n{n.tail()}" for n in nodes)
    raise AssertionError(f"the partitions were not all held: {last}\n{tails}")
