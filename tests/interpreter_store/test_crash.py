"""SIGKILL a process mid-commit: every acknowledged write is there after reopen."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from store_backends import Backend

WRITER = Path(__file__).with_name("crash_writer.py")
WORKERS = 8


async def run_and_kill(backend: Backend, acks_wanted: int) -> list[str]:
    """Run the writer until it has acknowledged `acks_wanted` writes, SIGKILL
    it, and return every acknowledgement it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WRITER),
        str(WORKERS),
        *backend.target(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while len(lines) < acks_wanted:
                line = await proc.stdout.readline()
                if not line:
                    raise AssertionError((await proc.stderr.read()).decode())
                lines.append(line.decode())
    finally:
        proc.send_signal(signal.SIGKILL)
    rest = await proc.stdout.read()
    await proc.stderr.read()
    assert await proc.wait() == -signal.SIGKILL
    # A line cut short by the kill was never fully acknowledged.
    lines.extend(line + "\n" for line in rest.decode().split("\n")[:-1])
    return [line.rstrip("\n") for line in lines if line.endswith("\n")]


async def check(backend: Backend, acks: list[str]) -> dict[str, int]:
    acked_seq: dict[str, int] = {}
    acked_sources: list[str] = []
    for line in acks:
        kind, *rest = line.split()
        if kind == "commit":
            acked_seq[rest[0]] = max(acked_seq.get(rest[0], -1), int(rest[1]))
        else:
            acked_sources.append(rest[0])
    async with await backend.open() as store:
        for key, seq in acked_seq.items():
            instance = await store.load_instance("crash", key)
            assert instance is not None and instance.seq >= seq + 1
            journal = await store.journal("crash", key)
            assert [j.seq for j in journal] == list(range(instance.seq))
            assert instance.snapshot["seq"] == instance.seq
        for source in acked_sources:
            assert await store.source_position(source) is not None
        inbox = {r.source for r in await store.inbox_for("crash", "in")}
        assert set(acked_sources) <= inbox
        outbox = {m.dedup_key for m in await store.pending_outbox()}
        assert all(f"{k}/{s}" in outbox for k, s in acked_seq.items())
    return acked_seq


@pytest.mark.slow
async def test_acknowledged_writes_survive_sigkill(backend: Backend) -> None:
    first = await check(backend, await run_and_kill(backend, 400))
    assert len(first) == WORKERS
    # The second run continues from what the first left, and is killed too.
    second = await check(backend, await run_and_kill(backend, 400))
    assert all(second[key] > first[key] for key in first)
