"""SIGKILL a process while it fires overdue timers: each fires exactly once.

The parent parks instances whose timers are long overdue, then runs a child
that fires them a few per transaction, killed once it has fired some, twice;
a third child runs to the end. After every kill, each instance's timer
is in exactly one place: still armed, in its inbox, or journaled; at the end,
journaled once.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.runtime import IncomingRecord, Runtime, VirtualClock
from flowyard.interpreter.store import SQLiteStore

CHILD = Path(__file__).with_name("timer_crash_run.py")
KEYS = 1500
BATCH = 10

TIMED = (Path(__file__).with_name("fixtures") / "timed.flow.yaml").read_text()

pytestmark = [pytest.mark.slow]


def _where_timers_are(db: Path) -> dict[str, list[str]]:
    """Per key, each place its timer is found: armed, inbox or journal."""
    places: dict[str, list[str]] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for (key,) in conn.execute("SELECT key FROM timers"):
            places.setdefault(key, []).append("armed")
        for (key,) in conn.execute(
            "SELECT key FROM inbox WHERE json_extract(input, '$.kind') = 'timer'"
        ):
            places.setdefault(key, []).append("inbox")
        for (key,) in conn.execute(
            "SELECT key FROM journal WHERE json_extract(input, '$.kind') = 'timer'"
        ):
            places.setdefault(key, []).append("journal")
    return places


def _fired(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM journal WHERE json_extract(input, '$.kind') = 'timer'"
        ).fetchone()
    return int(found[0])


async def _run_child(db: Path, ir_path: Path, *, kill_after_more_than: int | None) -> None:
    """Run the child; SIGKILL it once more than `kill_after_more_than` timers
    have fired in all (None: let it finish)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(db), str(ir_path), str(BATCH),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    async with asyncio.timeout(90):
        if kill_after_more_than is not None:
            while proc.returncode is None and _fired(db) <= kill_after_more_than:
                await asyncio.sleep(0.002)
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
        errors = await proc.stderr.read()
        code = await proc.wait()
    assert code in (0, -signal.SIGKILL), errors.decode()


async def test_each_overdue_timer_fires_once_across_sigkills(
    tmp_path: Path, compile_yaml: Any
) -> None:
    ir = compile_yaml(TIMED)
    ir_path = tmp_path / "timed.ir.json"
    ir_path.write_text(json.dumps(ir), encoding="utf-8")
    db = tmp_path / "flowd.db"

    # Parked two hours ago with a one-hour timer: overdue for the children.
    clock = VirtualClock(time.time_ns() // 1_000_000 - 2 * 3_600_000)
    rt = Runtime(await SQLiteStore.open(db), [ir], clock)
    await rt.start()
    keys = [f"k{i:04d}" for i in range(KEYS)]
    for start in range(0, KEYS, 100):
        records = [IncomingRecord(value={"id": key}) for key in keys[start : start + 100]]
        await rt.ingest_events("go", records)
    await rt.wait_idle()
    await rt.drain_and_stop()
    assert _fired(db) == 0

    for more in (0, 300):  # killed at its first batch, then well into its work
        await _run_child(db, ir_path, kill_after_more_than=_fired(db) + more)
        places = _where_timers_are(db)
        assert sorted(places) == keys
        assert {key: p for key, p in places.items() if len(p) != 1} == {}
    await _run_child(db, ir_path, kill_after_more_than=None)

    assert _where_timers_are(db) == {key: ["journal"] for key in keys}
    async with await SQLiteStore.open(db) as store:
        for instance in await store.instances("timed"):
            assert (instance.state, instance.snapshot["data"]["fired"]) == ("expired", 1)
            journal = await store.journal("timed", instance.key)
            assert [entry.seq for entry in journal] == [0, 1]
        assert len(await store.instances("timed")) == KEYS
