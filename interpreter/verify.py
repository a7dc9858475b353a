"""`flowd verify`: rebuild every instance from its journal and compare with its snapshot.

This checks the core promise of the journal: folding `step` over the inputs an
instance received reproduces, step by step, what the runtime did (the traces)
and where it ended up (the stored snapshot).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .program import Program, ProgramError
from .replay import ReplayMismatch, replay
from .store import Store


@dataclass(frozen=True, slots=True)
class Mismatch:
    """An instance whose journal does not rebuild its snapshot."""

    flow: str
    key: str
    problem: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """How many instances were rebuilt, and which did not match."""

    instances: int
    journal_entries: int
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        """Whether every instance matched."""
        return not self.mismatches


def _differences(stored: Mapping[str, Any], rebuilt: Mapping[str, Any]) -> list[str]:
    fields = sorted(set(stored) | set(rebuilt))
    return [
        f"{name}: stored {stored.get(name)!r}, replayed {rebuilt.get(name)!r}"
        for name in fields
        if stored.get(name) != rebuilt.get(name)
    ]


async def verify_store(
    store: Store,
    *,
    flow: str | None = None,
    env: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Replay every instance (of `flow`, or all) and compare with its snapshot.

    `env` must hold the environment variables the flows read, with the values
    they had when the inputs were applied.
    """
    programs: dict[str, Program | str] = {}
    for stored in await store.load_irs():
        try:
            programs[stored.hash] = Program.from_ir(stored.ir)
        except ProgramError as exc:
            programs[stored.hash] = str(exc)
    mismatches: list[Mismatch] = []
    count = entries = 0
    for row in await store.instances(flow):
        count += 1
        if progress is not None:
            progress(count)
        program = programs.get(row.ir_hash)
        if not isinstance(program, Program):
            problem = program or f"its IR {row.ir_hash} is not in the store"
            mismatches.append(Mismatch(row.flow, row.key, f"cannot load its program: {problem}"))
            continue
        journal = await store.journal(row.flow, row.key)
        entries += len(journal)
        try:
            rebuilt = replay(program, journal, key=row.key, env=env)
        except ReplayMismatch as exc:
            mismatches.append(Mismatch(row.flow, row.key, str(exc)))
            continue
        except Exception as exc:
            mismatches.append(
                Mismatch(row.flow, row.key, f"replay failed: {type(exc).__name__}: {exc}")
            )
            continue
        if rebuilt is None:
            mismatches.append(Mismatch(row.flow, row.key, "the journal is empty"))
            continue
        differences = _differences(row.snapshot, rebuilt.to_json())
        if differences:
            mismatches.append(
                Mismatch(row.flow, row.key, "snapshot differs: " + "; ".join(differences))
            )
    return VerifyReport(instances=count, journal_entries=entries, mismatches=tuple(mismatches))
