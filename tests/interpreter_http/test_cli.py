"""`flowd` as a user runs it: a subprocess, fed over HTTP and from a file, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from flowyard.interpreter.cli import main

SMALL_FLOW = """
flow: tickets
version: 1
key: id
events:
  Opened:
    topic: tickets
    match: {type: opened}
    key: event.id
    schema:
      type: object
      required: [type, id]
      properties:
        type: {type: string}
        id: {type: string}
  Closed:
    topic: tickets
    match: {type: closed}
    key: event.id
signals:
  escalate:
    schema: {type: object}
data:
  escalated: {type: boolean, default: false}
initial: new
states:
  new:
    on:
      Opened: {goto: open}
  open:
    on:
      escalate:
        do:
          - set: {escalated: true}
      Closed: {goto: closed}
  closed:
    final: true
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def flowd(*args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowyard.interpreter.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def flowd_done(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run flowd to completion (60 s at most)."""
    return subprocess.run(
        [sys.executable, "-m", "flowyard.interpreter.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.flow.yaml"
    path.write_text(textwrap.dedent(SMALL_FLOW), encoding="utf-8")
    return path


async def wait_healthy(session: aiohttp.ClientSession, base: str, proc: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"flowd exited early: {proc.communicate()}")
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("flowd did not become healthy")


def journal_keys(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, COUNT(*) FROM journal GROUP BY key").fetchall()
    return {str(k): int(n) for k, n in rows}


def inbox_keys(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {str(k) for (k,) in conn.execute("SELECT key FROM inbox").fetchall()}


async def test_run_serves_http_and_drains_on_sigterm(flow_file: Path, tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "flowd.db"
    proc = flowd(
        "run", str(flow_file), "--store", str(db), "--http", f"127.0.0.1:{port}", cwd=tmp_path
    )
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, base, proc)
            for i in range(40):
                key = f"k-{i}"
                body = [{"type": "opened", "id": key}, {"type": "closed", "id": key}]
                headers = {"Idempotency-Key": f"req-{i}"}
                async with session.post(
                    f"{base}/events/tickets", json=body, headers=headers
                ) as response:
                    assert response.status == 202, await response.text()
                    acknowledged.append(key)
            async with session.post(f"{base}/events/tickets", data=b"{") as response:
                assert response.status == 400
            # One flowd per store: a second one, or a --store operator command, is refused.
            second = flowd_done(
                "run", str(flow_file), "--store", str(db), "--no-http", cwd=tmp_path
            )
            assert second.returncode == 2
            assert f"is in use by flowd (pid {proc.pid})" in second.stdout + second.stderr
            cancel = flowd_done("cancel", "tickets", "k-0", "--store", str(db), cwd=tmp_path)
            assert cancel.returncode == 1
            assert "send the cancel to it with --url" in cancel.stderr
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "draining" in out and "stopped after" in out
    assert "tickets k-0  new ─Opened→ open" in out
    journaled, waiting = journal_keys(db), inbox_keys(db)
    for key in acknowledged:
        assert key in journaled or key in waiting, f"{key} was acknowledged but is not stored"
    # A restart finishes whatever the drain left in the inboxes.
    rerun = flowd(
        "run",
        str(flow_file),
        "--store",
        str(db),
        "--no-http",
        "--exit-when-idle",
        "--quiet",
        cwd=tmp_path,
    )
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert journal_keys(db) == {key: 2 for key in acknowledged}
    verify = flowd("verify", "--store", str(db), cwd=tmp_path)
    out, err = verify.communicate(timeout=60)
    assert verify.returncode == 0, out + err


@pytest.mark.parametrize(("option", "queued"), [((), 0), (("--no-step-on-arrival",), 3)])
def test_step_on_arrival_can_be_turned_off(
    flow_file: Path, tmp_path: Path, option: tuple[str, ...], queued: int
) -> None:
    events = tmp_path / "tickets.events.jsonl"
    lines = [
        {"topic": "tickets", "value": {"type": "opened", "id": "t-1"}},
        {"topic": "tickets", "value": {"type": "opened", "id": "t-2"}},
        {"topic": "tickets", "value": {"type": "closed", "id": "t-1"}},
    ]
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    db = tmp_path / "flowd.db"
    done = flowd_done(
        "run", str(flow_file), "--store", str(db), "--no-http", "--events", str(events),
        "--exit-when-idle", "--quiet", *option, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert journal_keys(db) == {"t-1": 2, "t-2": 1}
    with sqlite3.connect(db) as conn:
        ever = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone()
        states = dict(conn.execute("SELECT key, state FROM instances").fetchall())
    # Idle keys are stepped as their events arrive; queued, every event passed the inbox.
    assert (0 if ever is None else ever[0]) == queued
    assert states == {"t-1": "closed", "t-2": "open"}


def test_events_file_run_until_idle(flow_file: Path, tmp_path: Path) -> None:
    events = tmp_path / "tickets.events.jsonl"
    lines = [
        {"topic": "tickets", "value": {"type": "opened", "id": "t-1"}},
        {"signal": "escalate", "flow": "tickets", "key": "t-1", "value": {}},
        {"topic": "tickets", "value": {"type": "closed", "id": "t-1"}},
        {"topic": "tickets", "value": {"type": "opened"}},
    ]
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    db = tmp_path / "flowd.db"
    args = (
        "run",
        str(flow_file),
        "--store",
        str(db),
        "--no-http",
        "--events",
        str(events),
        "--exit-when-idle",
    )
    proc = flowd(*args, cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "tickets t-1  new ─Opened→ open" in out
    assert "tickets t-1  open ─signal escalate→ open" in out
    assert "tickets t-1  open ─Closed→ closed (final)" in out
    assert "dead letter tickets.Opened: no key" in out
    assert "line 5: not JSON" in out
    assert "5 lines: 3 accepted, 0 already applied, 2 dead-lettered" in out
    # Again on the same store: nothing is applied twice.
    proc = flowd(*args, cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "5 lines: 0 accepted, 5 already applied, 0 dead-lettered" in out
    assert journal_keys(db) == {"t-1": 3}


def test_compile_errors_print_like_flowc_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.flow.yaml"
    bad.write_text(
        textwrap.dedent(SMALL_FLOW).replace("Closed: {goto: closed}", "Closed: {goto: nowhere}"),
        encoding="utf-8",
    )
    proc = flowd("run", str(bad), "--store", str(tmp_path / "x.db"), cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"{bad}:" in err and "error" in err and "nowhere" in err
    assert not (tmp_path / "x.db").exists()


def test_usage_errors_exit_2(flow_file: Path, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("FLOWYARD_SURELY_UNSET", raising=False)
    assert main([]) == 2
    assert main(["run", str(flow_file), "--env", "FLOWYARD_SURELY_UNSET"]) == 2
    assert main(["run", str(flow_file), "--http", "localhost:http"]) == 2
    assert main(["run", str(flow_file), "--events", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["verify", "--store", str(tmp_path / "missing.db")]) == 2


def test_verify_names_a_tampered_snapshot(
    flow_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text(
        json.dumps({"topic": "tickets", "value": {"type": "opened", "id": "t-7"}}) + "\n"
    )
    db = tmp_path / "flowd.db"
    proc = flowd_done(
        "run",
        str(flow_file),
        "--store",
        str(db),
        "--no-http",
        "--events",
        str(events),
        "--exit-when-idle",
        "--quiet",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert main(["verify", "--store", str(db)]) == 0
    assert "verified 1 instance(s), 1 journal entries: ok" in capsys.readouterr().out
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE instances SET state = 'closed' WHERE key = 't-7'")
    assert main(["verify", "--store", str(db)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH tickets t-7: snapshot differs: state: stored 'closed', replayed 'open'" in out


def test_operator_commands_against_a_store(
    flow_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text(
        json.dumps({"topic": "tickets", "value": {"type": "opened", "id": "t-1"}})
        + "\n"
        + json.dumps({"topic": "tickets", "value": {"type": "bogus"}})
        + "\n"
    )
    db = tmp_path / "flowd.db"
    run = ("run", str(flow_file), "--store", str(db), "--no-http", "--exit-when-idle", "--quiet")
    assert flowd_done(*run, "--events", str(events), cwd=tmp_path).returncode == 0
    assert main(["incidents", "--store", str(db)]) == 0
    assert "0 incident(s)" in capsys.readouterr().out
    assert main(["dead-letters", "--store", str(db)]) == 0
    assert main(["retry", "tickets", "t-1", "--store", str(db)]) == 1
    assert "not an incident" in capsys.readouterr().err
    assert main(["cancel", "tickets", "t-1", "--store", str(db), "--reason", "dup"]) == 0
    assert "queued" in capsys.readouterr().out
    assert main(["cancel", "tickets", "nope", "--store", str(db)]) == 1
    assert flowd_done(*run, cwd=tmp_path).returncode == 0
    with sqlite3.connect(db) as conn:
        (status,) = conn.execute("SELECT status FROM instances WHERE key = 't-1'").fetchone()
    assert status == "cancelled"


def test_ir_json_versions_and_a_scaled_clock(flow_file: Path, tmp_path: Path) -> None:
    from flowyard.compiler.api import compile_file

    ir, _ = compile_file(flow_file)
    assert ir is not None
    v1 = tmp_path / "tickets.v1.json"
    v1.write_text(json.dumps(ir), encoding="utf-8")
    v2 = tmp_path / "tickets.v2.flow.yaml"
    v2.write_text(
        flow_file.read_text()
        .replace("version: 1", "version: 2")
        .replace(
            "      Closed: {goto: closed}",
            "      Closed: {goto: closed}\n    after:\n      1h: {goto: closed}",
        ),
        encoding="utf-8",
    )
    events = tmp_path / "e.jsonl"
    lines = [
        {"topic": "tickets", "value": {"type": "opened", "id": "t-1"}},
        {"topic": "tickets", "value": {"type": "closed", "id": "t-1"}, "after": "2h"},
    ]
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    db = tmp_path / "flowd.db"
    started = time.monotonic()
    done = flowd_done(
        "run", str(v1), str(v2), "--store", str(db), "--no-http", "--events", str(events),
        "--clock-speed", "7200", "--exit-when-idle", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    # The instance started on the newest version; its 1h timer fired before the
    # Closed event, placed two hours into the feed, arrived (and was ignored).
    assert "tickets t-1  open ─after 1h→ closed (final)" in done.stdout
    assert "clock x7200" in done.stdout
    with sqlite3.connect(db) as conn:
        (ir_hash,) = conn.execute(
            "SELECT n.ir_hash FROM instances AS i JOIN ir_names AS n ON n.id = i.ir"
        ).fetchone()
    assert ir_hash != ir["hash"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"flow": "x"}', encoding="utf-8")
    done = flowd_done("run", str(bad), "--store", str(tmp_path / "y.db"), cwd=tmp_path)
    assert done.returncode == 1
    assert "not a valid IR" in done.stderr
