"""Rebuilding an instance from its journal by folding `step` over the journaled inputs.

Each journal entry holds the input applied as number `seq` and the trace of
what that step did. Replaying from nothing must meet the same traces; the first
difference raises `ReplayMismatch` naming the seq and both traces (the way
Temporal reports nondeterminism), which is what `flowd verify` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from .core import step
from .model import JSON, Command, Instance, input_from_json
from .program import Program


class JournalRecord(Protocol):
    """What replay needs of a journal entry (the store's `JournalEntry` has these)."""

    @property
    def seq(self) -> int: ...

    @property
    def input(self) -> Mapping[str, Any]: ...

    @property
    def trace(self) -> Any: ...


class ReplayMismatch(Exception):  # noqa: N818 - the name flowd verify and the brief agreed on
    """Replaying input `seq` did something else than the journal says it did."""

    def __init__(self, seq: int, journaled: Sequence[str], replayed: Sequence[str]) -> None:
        self.seq = seq
        self.journaled = tuple(journaled)
        self.replayed = tuple(replayed)
        super().__init__(
            f"replay diverged at seq {seq}:\n"
            f"  journal: {' | '.join(self.journaled) or '(empty)'}\n"
            f"  replay:  {' | '.join(self.replayed) or '(empty)'}"
        )


def trace_to_json(trace: Sequence[str], commands: Sequence[Command] = ()) -> dict[str, JSON]:
    """The JSON object a journal entry stores for a step: its trace and its commands."""
    return {"trace": list(trace), "commands": [c.to_json() for c in commands] if commands else []}


def trace_from_json(obj: Any) -> tuple[str, ...]:
    """The trace of a journal entry (see `trace_to_json`); also reads the older
    `{"steps": [...]}` form and a plain list."""
    steps = obj.get("trace", obj.get("steps")) if isinstance(obj, Mapping) else obj
    if not isinstance(steps, list | tuple) or not all(isinstance(s, str) for s in steps):
        raise ValueError(f"not a journaled trace: {obj!r}")
    return tuple(steps)


def replay(
    program: Program,
    journal_entries: Iterable[JournalRecord],
    *,
    key: str,
    env: Mapping[str, str] | None = None,
) -> Instance | None:
    """Fold `step` over the journal from nothing; None for an empty journal.

    Entries must come in seq order starting at 0 without gaps. Raises
    `ReplayMismatch` at the first step whose trace differs from the journal's,
    and `ValueError` when the seqs are out of order.
    """
    instance: Instance | None = None
    for expected_seq, entry in enumerate(journal_entries):
        if entry.seq != expected_seq:
            raise ValueError(f"journal of {key!r} jumps from seq {expected_seq} to {entry.seq}")
        result = step(program, instance, input_from_json(dict(entry.input)), key=key, env=env)
        journaled = trace_from_json(entry.trace)
        if result.trace != journaled:
            raise ReplayMismatch(entry.seq, journaled, result.trace)
        instance = result.instance
    return instance
