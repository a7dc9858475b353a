"""`flowd` on a PostgreSQL store: run, verify, incidents, dead letters, cancel, one owner."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.cli import main
from flowyard.interpreter.store import PostgresStore
from flowyard.interpreter.store.targets import PostgresTarget, display
from test_cli import SMALL_FLOW, flowd_done


@pytest.fixture
def store_url(postgres_cluster: Any, tmp_path: Path) -> str:
    """A PostgreSQL store URL naming a schema of this test's own."""
    return f"{postgres_cluster.dsn}?schema=cli_{os.getpid()}_{tmp_path.name.replace('-', '_')}"


def test_a_store_url_keeps_flowds_schema_parameter_and_hides_the_password() -> None:
    parsed = PostgresTarget.parse("postgresql://u:pw@h:5432/db?schema=flowd&sslmode=disable")
    assert parsed == PostgresTarget("postgresql://u:pw@h:5432/db?sslmode=disable", "flowd")
    assert PostgresTarget.parse("postgres://h/db").schema is None
    with pytest.raises(ValueError, match="one non-empty schema"):
        PostgresTarget.parse("postgresql://u:pw@h/db?schema=")
    assert display("postgresql://u:pw@h/db?schema=a") == "postgresql://u:***@h/db?schema=a"
    assert display("flowd.db") == "flowd.db"


HOLDER = """
import asyncio, sys
from flowyard.interpreter.store.targets import PostgresClaim

async def hold() -> None:
    claim = await PostgresClaim.claim(sys.argv[1])
    print("claimed", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await claim.release()

asyncio.run(hold())
"""


def test_flowd_runs_and_is_operated_on_a_postgres_store(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "tickets.flow.yaml"
    flow.write_text(textwrap.dedent(SMALL_FLOW), encoding="utf-8")
    events = tmp_path / "e.jsonl"
    lines = [
        {"topic": "tickets", "value": {"type": "opened", "id": "t-1"}},
        {"topic": "tickets", "value": {"type": "opened", "id": "t-2"}},
        {"topic": "tickets", "value": {"type": "closed", "id": "t-2"}},
        {"topic": "tickets", "value": {"type": "opened"}},
    ]
    events.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    run = ("run", str(flow), "--store", store_url, "--no-http", "--exit-when-idle", "--quiet")

    first = flowd_done(*run, "--events", str(events), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 lines: 3 accepted, 0 already applied, 1 dead-lettered" in first.stdout
    again = flowd_done(*run, "--events", str(events), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "4 lines: 0 accepted, 4 already applied, 0 dead-lettered" in again.stdout

    assert main(["verify", "--store", store_url]) == 0
    assert "verified 2 instance(s), 3 journal entries: ok" in capsys.readouterr().out
    assert main(["incidents", "--store", store_url]) == 0
    assert "0 incident(s)" in capsys.readouterr().out
    assert main(["dead-letters", "--store", store_url]) == 0
    assert "1 dead letter(s)" in capsys.readouterr().out
    assert main(["instances", "tickets", "--store", store_url, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted((i["key"], i["state"]) for i in listed) == [
        ("t-1", "open"),
        ("t-2", "closed"),
    ]

    # While another process owns the store, flowd and operator actions are refused.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "claimed\n"
        assert main(["cancel", "tickets", "t-1", "--store", store_url]) == 1
        assert f"in use by flowd pid {holder.pid}" in capsys.readouterr().err
        busy = flowd_done(*run, cwd=tmp_path)
        assert busy.returncode == 2 and f"in use by flowd pid {holder.pid}" in busy.stdout
    finally:
        holder.communicate("", timeout=30)

    assert main(["cancel", "tickets", "t-1", "--store", store_url, "--reason", "dup"]) == 0
    assert "queued" in capsys.readouterr().out
    assert flowd_done(*run, cwd=tmp_path).returncode == 0

    async def instances() -> set[tuple[str, str, str]]:
        parsed = PostgresTarget.parse(store_url)
        async with await PostgresStore.open(parsed.dsn, schema=parsed.schema) as store:
            return {(i.key, i.state, i.status) for i in await store.instances("tickets")}

    assert asyncio.run(instances()) == {
        ("t-1", "open", "cancelled"),
        ("t-2", "closed", "completed"),
    }


def test_an_unreachable_postgres_store_is_a_usage_error(tmp_path: Path) -> None:
    flow = tmp_path / "tickets.flow.yaml"
    flow.write_text(textwrap.dedent(SMALL_FLOW), encoding="utf-8")
    done = flowd_done(
        "run", str(flow), "--store", "postgresql://flowd:hush@127.0.0.1:1/none", "--no-http",
        "--exit-when-idle", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot open the store: postgresql://flowd:***@127.0.0.1:1/none: cannot" in done.stdout
    assert "hush" not in done.stdout + done.stderr
