"""The admin commands against a running flowd (`--url`) and directly on its store.

One flowd subprocess serves the whole module: an incident is made by breaking
the effect, shown, fixed and retried; a signal, emitted records, a dead
letter replayed and a cancel are driven through the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flowd_process import start_flowd, stop_flowd

FLOW = """
flow: jobs
version: 1
key: id
events:
  Submitted:
    topic: jobs
    key: event.id
    schema:
      type: object
      required: [id, size]
      properties:
        id: {type: string}
        size: {type: integer, minimum: 0}
signals:
  go:
    schema: {type: object, properties: {speed: {type: integer}}}
effects:
  work:
    python: jobs_effects:work
    timeout: 10s
    retry: {attempts: 1}
  announce:
    emit: {topic: jobs-done, key: "${ key }"}
data:
  size: {type: integer, default: 0}
  speed: {type: integer, default: 0}
  result: {type: object, default: {}}
initial: waiting
states:
  waiting:
    on:
      Submitted:
        do:
          - set: {size: "${ event.size }"}
        goto: ready
  ready:
    on:
      go:
        do:
          - set: {speed: "${ event.speed }"}
          - call: work
            with: {size: "${ data.size }"}
            result: result
          - call: announce
            with: {size: "${ data.size }"}
        goto: done
  done:
    final: true
"""

EFFECTS = """
import asyncio
from pathlib import Path

from flowyard.interpreter.runtime.effects import EffectError


async def work(args, ctx):
    if Path("broken").exists():
        raise EffectError("the worker is down", retryable=False)
    if Path("slow").exists():
        await asyncio.sleep(60)
    return {"worked": args["size"]}
"""


@dataclass
class Flowd:
    base: str
    store: Path
    cwd: Path

    def cli(self, *args: str, url: bool = True, check: bool = True) -> str:
        """Run a flowd command against this flowd (60 s at most); its stdout."""
        target = ["--url", self.base] if url else ["--store", str(self.store)]
        done = subprocess.run(
            [sys.executable, "-m", "flowyard.interpreter.cli", *args, *target],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done.stdout if check else done.stderr

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def instance(self, key: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base}/instances/jobs/{key}", timeout=30) as response:
            return dict(json.loads(response.read()))

    def wait_for(self, key: str, field: str, value: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            instance = self.instance(key)
            if instance[field] == value:
                return instance
            time.sleep(0.05)
        raise AssertionError(f"{key} never had {field} {value}: {instance}")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flowd]:
    cwd = tmp_path_factory.mktemp("admin")
    (cwd / "jobs.flow.yaml").write_text(textwrap.dedent(FLOW), encoding="utf-8")
    (cwd / "jobs_effects.py").write_text(EFFECTS, encoding="utf-8")
    store = cwd / "flowd.db"
    proc, base = start_flowd(
        *("jobs.flow.yaml", "--store", str(store), "--quiet", "--color", "never"), cwd=cwd
    )
    try:
        yield Flowd(base, store, cwd)
    finally:
        stop_flowd(proc)


def test_an_incident_is_shown_then_retried_once_its_effect_is_fixed(running: Flowd) -> None:
    assert running.post("/events/jobs", {"id": "j-1", "size": 7})[0] == 202
    (running.cwd / "broken").touch()
    out = running.cli("signal", "jobs", "j-1", "go", "--data", '{"speed": 3}')
    assert "signal go to jobs/j-1 accepted" in out
    running.wait_for("j-1", "status", "incident")

    listed = running.cli("instances", "jobs", "--status", "incident")
    assert "j-1" in listed and "the worker is down" in listed
    shown = running.cli("show", "jobs", "j-1")
    assert "status incident" in shown
    assert "flowd retry jobs j-1" in shown
    assert "ready ─go→" in shown
    assert "/speed: 0 → 3" in shown
    assert "attempt 1 of work: error" in shown

    (running.cwd / "broken").unlink()
    assert "retry of jobs/j-1 requested" in running.cli("retry", "jobs", "j-1")
    running.wait_for("j-1", "state", "done")
    history = json.loads(running.cli("show", "jobs", "j-1", "--format", "json"))
    kinds = [item["kind"] for item in history["history"]["items"]]
    assert kinds.count("effect_attempt") == 2
    assert "retried" in kinds
    assert history["instance"]["data"]["result"] == {"worked": 7}
    # The store can be read while flowd runs on it.
    assert "ready → done" in running.cli("show", "jobs", "j-1", url=False)
    assert "j-1" in running.cli("instances", "jobs", "--state", "done", url=False)


def test_emitted_from_the_api_and_the_store(running: Flowd) -> None:
    running.post("/events/jobs", {"id": "j-2", "size": 2})
    running.cli("signal", "jobs", "j-2", "go", "--data", '{"speed": 1}')
    running.wait_for("j-2", "state", "done")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = json.loads(running.cli("emitted", "--topic", "jobs-done", "--format", "json"))
        if any(r["key"] == "j-2" for r in body["log"]):
            break
        time.sleep(0.1)
    assert {"size": 2} in [r["value"] for r in body["log"] if r["key"] == "j-2"]
    text = running.cli("emitted", url=False)
    assert "jobs-done  key j-2" in text
    first = running.cli("instances", "jobs", "--limit", "1")
    assert "more: add --after j-1" in first
    assert "j-2" in running.cli("instances", "jobs", "--limit", "1", "--after", "j-1")


def test_a_dead_letter_replayed_by_the_cli(running: Flowd) -> None:
    status, _ = running.post("/events/jobs", {"id": "j-3", "size": -1})
    assert status == 422
    letters = json.loads(urllib.request.urlopen(f"{running.base}/dead-letters").read())
    letter = letters["dead_letters"][-1]
    error = running.cli("replay-dead-letter", str(letter["id"]), check=False)
    assert "422 replay refused: " in error  # the flow still refuses it
    assert "less than the minimum of 0" in error
    error = running.cli("replay-dead-letter", "9999", check=False)
    assert "404 unknown dead letter" in error


def test_top_and_the_graph_show_live_counts(running: Flowd) -> None:
    running.post("/events/jobs", {"id": "g-1", "size": 1})
    (running.cwd / "broken").touch()
    try:
        running.cli("signal", "jobs", "g-1", "go", "--data", '{"speed": 1}')
        running.wait_for("g-1", "status", "incident")
    finally:
        (running.cwd / "broken").unlink()
    top = running.cli("top", "--once")
    assert "jobs" in top and "incidents" in top
    row = next(line for line in top.splitlines() if " ready " in line)
    assert "1" in row  # g-1 is an incident in state ready
    graph = running.cli("graph", "jobs")
    assert "stateDiagram-v2" in graph
    assert any(" : " in line and "1 incident" in line for line in graph.splitlines())
    assert any(
        line.strip().startswith("class ") and "incident" in line for line in graph.splitlines()
    )
    dot = running.cli("graph", "jobs", "--format", "dot", url=False)
    assert 'penwidth="3"' in dot and "1 incident" in dot
    assert "jobs" in running.cli("top", "--once", url=False)


def test_flowd_run_serves_metrics(running: Flowd) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{running.base}/metrics", timeout=30) as response:
        text = response.read().decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"flowd_inputs_applied", "flowd_effect_attempts", "flowd_instances"} <= names


def test_cancel_in_the_middle_of_a_long_transition_and_errors_for_people(
    running: Flowd,
) -> None:
    running.post("/events/jobs", {"id": "j-4", "size": 1})
    running.wait_for("j-4", "state", "ready")
    (running.cwd / "slow").touch()
    try:
        running.cli("signal", "jobs", "j-4", "go", "--data", '{"speed": 2}')
        running.wait_for("j-4", "status", "running")  # its effect takes a minute
        assert "cancel of jobs/j-4 requested" in running.cli("cancel", "jobs", "j-4")
        running.wait_for("j-4", "status", "cancelled")
    finally:
        (running.cwd / "slow").unlink()
    shown = running.cli("show", "jobs", "j-4")
    assert "operator: cancel" in shown
    assert "call work" in shown
    error = running.cli("show", "jobs", "nobody", check=False)
    assert "404 unknown instance: no instance jobs/nobody" in error
    error = running.cli("signal", "jobs", "j-4", "go", "--data", "{nope", check=False)
    assert "--data is not JSON" in error
