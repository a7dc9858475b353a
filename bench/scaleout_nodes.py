"""bench/scaleout.py's partitioned flowd processes: starting and stopping them,
asking their `/healthz`, and reading what they journaled."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from embedded import FLOW, _free_port

PARTITIONS = 12
"""The store's partitions (flowd's default) and the records topic's, one to one."""


async def journal_count(conn: Any) -> int:
    """Transitions journaled in the schema of `conn`."""
    return int(await conn.fetchval("SELECT count(*) FROM journal"))


@dataclass
class Flowd:
    """One `flowd run FLOW --kafka ... --group G --store postgresql://...?schema=S`."""

    name: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def flow_reading(workdir: Path, topic: str) -> Path:
    path = workdir / f"{topic}.flow.yaml"
    path.write_text(textwrap.dedent(FLOW).replace("topic: pings", f"topic: {topic}"))
    return path


def start_partitioned(
    workdir: Path, flow: Path, store: str, *, bootstrap: str, group: str, name: str
) -> Flowd:
    port = _free_port()
    log = workdir / f"{name}.out"
    command = [
        sys.executable, "-m", "flowyard.interpreter.cli", "run", str(flow),
        "--store", store, "--http", f"127.0.0.1:{port}",
        "--kafka", bootstrap, "--group", group, "--partitions", str(PARTITIONS),
        "--quiet", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    return Flowd(name, port, log, proc)


def stop_all(nodes: list[Flowd]) -> None:
    """SIGTERM to every live process, SIGKILL to those still running 30 s later."""
    for node in nodes:
        if node.alive:
            node.proc.send_signal(signal.SIGTERM)
    until = time.monotonic() + 30
    for node in nodes:
        try:
            node.proc.wait(timeout=max(0.1, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait()


def check_running(nodes: list[Flowd], deadline: float, what: str) -> None:
    for node in nodes:
        if not node.alive:
            raise SystemExit(f"{node.name} exited ({what}):\n{node.tail()}")
    if time.monotonic() > deadline:
        raise SystemExit(f"time bound reached while waiting: {what}")


async def held(http: aiohttp.ClientSession, node: Flowd) -> dict[int, int]:
    """`GET /healthz`'s held store partitions (partition -> epoch); {} when silent."""
    try:
        async with http.get(f"{node.url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as reply:
            body = await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}
    found = (body.get("partitions") or {}).get("held") or {}
    return {int(p): int(e) for p, e in found.items()}


async def watch(dsn: str, schema: str) -> Any:
    """A connection to the schema flowd creates (not created here)."""
    return await asyncpg.connect(dsn, server_settings={"search_path": schema})


async def journal_rows(conn: Any, keys: list[str] | None = None) -> int:
    """Transitions journaled (of `keys`); 0 before flowd made the schema."""
    try:
        if keys is None:
            return await journal_count(conn)
        return int(
            await conn.fetchval("SELECT count(*) FROM journal WHERE key = ANY($1::text[])", keys)
        )
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return 0


async def inbox_rows_written(conn: Any, schema: str) -> int:
    found = await conn.fetchval(
        "SELECT coalesce(max(last_value), 0) FROM pg_sequences "
        "WHERE schemaname = $1 AND sequencename = 'inbox_id_seq'",
        schema,
    )
    return int(found or 0)


async def misapplied(conn: Any, events: list[dict[str, Any]]) -> int:
    """Keys whose records were not each applied exactly once and in order
    (the journal's inputs, by seq, against what was produced for the key)."""
    expected: dict[str, list[int]] = {}
    for event in events:
        expected.setdefault(event["id"], []).append(event["n"])
    rows = await conn.fetch(
        "SELECT key, array_agg((input->'payload'->>'n')::int ORDER BY seq) FROM journal "
        "GROUP BY key"
    )
    got = {key: list(ns) for key, ns in rows}
    return sum(1 for key in expected.keys() | got.keys() if got.get(key) != expected.get(key))
