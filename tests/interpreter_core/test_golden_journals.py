"""Golden journals: complete histories of the example flows, replayed step by step.

Each file holds an IR, the inputs of one instance with the trace and commands
each step produced, and the final snapshot. Any change to what `step` does for
these inputs shows up here as a named difference; if the change is intended,
run `python3 tests/interpreter_core/regen_golden.py` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.core import step
from flowyard.interpreter.model import Instance, input_from_json
from flowyard.interpreter.program import Program
from flowyard.interpreter.replay import replay

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.journal.json"))


class Entry:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.seq: int = raw["seq"]
        self.input: dict[str, Any] = raw["input"]
        self.trace: Any = raw["trace"]


def test_there_are_golden_journals() -> None:
    assert {p.name for p in GOLDEN} >= {
        "order_shipped.journal.json",
        "subscription_dunning.journal.json",
        "webhook_one_failure.journal.json",
    }


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name.removesuffix(".journal.json"))
def test_golden_journal_replays_exactly(path: Path) -> None:
    golden = json.loads(path.read_text())
    program = Program.from_ir(golden["ir"])
    instance: Instance | None = None
    for entry in golden["journal"]:
        result = step(
            program,
            instance,
            input_from_json(entry["input"]),
            key=golden["key"],
            env=golden["env"],
        )
        where = f"{path.name} seq {entry['seq']}"
        assert list(result.trace) == entry["trace"]["steps"], where
        assert [c.to_json() for c in result.commands] == entry["commands"], where
        instance = result.instance
    assert instance is not None
    assert instance.to_json() == golden["final"]
    rebuilt = replay(
        program, [Entry(e) for e in golden["journal"]], key=golden["key"], env=golden["env"]
    )
    assert rebuilt == Instance.from_json(golden["final"])
