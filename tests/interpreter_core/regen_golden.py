"""Rewrite the outputs of the golden journals after an intended change to `step`.

Usage: `python3 tests/interpreter_core/regen_golden.py`. The inputs (and the IR)
of each golden file stay as they are; every step's trace and commands and the
final snapshot are recomputed. Review the diff before committing it.
"""

from __future__ import annotations

import json
from pathlib import Path

from flowyard.interpreter.core import step
from flowyard.interpreter.model import Instance, input_from_json
from flowyard.interpreter.program import Program
from flowyard.interpreter.replay import trace_to_json


def regenerate(path: Path) -> None:
    golden = json.loads(path.read_text())
    program = Program.from_ir(golden["ir"])
    instance: Instance | None = None
    for entry in golden["journal"]:
        inp = input_from_json(entry["input"])
        result = step(program, instance, inp, key=golden["key"], env=golden["env"])
        entry["trace"] = trace_to_json(result.trace)
        entry["commands"] = [c.to_json() for c in result.commands]
        instance = result.instance
    assert instance is not None
    golden["final"] = instance.to_json()
    path.write_text(json.dumps(golden, indent=1) + "\n")


if __name__ == "__main__":
    for golden_path in sorted((Path(__file__).parent / "golden").glob("*.journal.json")):
        regenerate(golden_path)
        print(f"rewrote {golden_path}")
