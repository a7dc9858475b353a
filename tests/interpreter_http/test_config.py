"""`flowd.toml`, FLOWD_* variables and `--log-format json`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flowyard.interpreter.cli import build_parser
from flowyard.interpreter.config import ConfigError, apply, read_file

FLOW = """
flow: pings
version: 3
key: id
events:
  Ping:
    topic: pings
    key: event.id
effects:
  answer:
    python: pings_effects:answer
    timeout: 5s
    retry: {attempts: 1}
initial: idle
states:
  idle:
    on:
      Ping:
        do:
          - call: answer
        goto: answered
  answered:
    final: true
"""


def defaults() -> argparse.Namespace:
    return build_parser().parse_args(["run", "-"])


def test_the_command_line_wins_then_the_environment_then_the_file(tmp_path: Path) -> None:
    config = tmp_path / "flowd.toml"
    config.write_text(
        textwrap.dedent(
            """
            [store]
            path = "from-file.db"
            [limits]
            max_backlog = 50
            max_effects_in_flight = 7
            [log]
            format = "json"
            """
        ),
        encoding="utf-8",
    )
    args = build_parser().parse_args(["run", "f.flow", "--max-backlog", "9"])
    merged = apply(
        args, defaults(), config=str(config), environ={"FLOWD_MAX_EFFECTS_IN_FLIGHT": "3"}
    )
    assert merged.max_backlog == 9  # the command line
    assert merged.max_effects_in_flight == 3  # the environment
    assert merged.store == "from-file.db"  # the file
    assert merged.log_format == "json"
    assert merged.max_concurrent_keys == 256  # the default
    assert merged.flows == ["f.flow"]


def test_mistakes_are_named(tmp_path: Path) -> None:
    config = tmp_path / "flowd.toml"
    for text, message in (
        ("[limits]\nmax_backlogs = 5\n", "unknown setting limits.max_backlogs"),
        ("[limits]\nmax_backlog = 0\n", "limits.max_backlog must be a whole number"),
        ('[log]\nformat = "xml"\n', "log.format must be one of text, json"),
        ("[store\n", "not TOML"),
        ('store = "x"\n', "store must be a [store] table"),
    ):
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
            read_file(config)
    with pytest.raises(ConfigError, match="FLOWD_MAX_BACKLOG must be a whole number"):
        apply(defaults(), defaults(), config=None, environ={"FLOWD_MAX_BACKLOG": "lots"})
    with pytest.raises(ConfigError, match="cannot read"):
        read_file(tmp_path / "missing.toml")


def test_json_logs_have_a_line_per_transition_and_failed_attempt(tmp_path: Path) -> None:
    (tmp_path / "pings.flow.yaml").write_text(textwrap.dedent(FLOW), encoding="utf-8")
    (tmp_path / "pings_effects.py").write_text(
        "async def answer(args, ctx):\n    raise RuntimeError('the answering machine is off')\n",
        encoding="utf-8",
    )
    (tmp_path / "pings.jsonl").write_text(
        '{"topic": "pings", "value": {"id": "p-1"}}\n', encoding="utf-8"
    )
    (tmp_path / "flowd.toml").write_text(
        '[store]\npath = "pings.db"\n[log]\nformat = "json"\n', encoding="utf-8"
    )
    done = subprocess.run(
        [
            *(sys.executable, "-m", "flowyard.interpreter.cli", "run", "pings.flow.yaml"),
            *("--config", "flowd.toml", "--no-http", "--events", "pings.jsonl", "--exit-when-idle"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pings.db").is_file()
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    steps = [line for line in lines if line["event"] == "transition"]
    assert steps[0]["flow"] == "pings"
    assert steps[0]["key"] == "p-1"
    assert steps[0]["version"] == 3
    assert steps[0]["seq"] == 0
    assert steps[0]["transitions"] == ["idle/on/Ping/0"]
    assert steps[-1]["status"] == "incident"
    assert steps[-1]["level"] == "warning"
    failed = [line for line in lines if line["event"] == "effect_attempt_failed"]
    assert [f["attempt"] for f in failed] == [1]
    assert failed[0]["effect"] == "answer"
    assert (failed[0]["flow"], failed[0]["key"], failed[0]["seq"]) == ("pings", "p-1", 0)
    assert "the answering machine is off" in failed[0]["error"]
