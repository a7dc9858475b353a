"""What a batch of writes will do, decided before any SQL: the rules both stores share.

SQLite's writes (`sqlite_writes.py`) and PostgreSQL's (`postgres_writes.py`)
differ in their statements, not in their rules: which offered steps stand in
for their items' inbox rows, how a source's position moves. Those rules live
here once, as plain functions of records. (How a snapshot becomes a row is
each store's own: SQLite keeps a smaller row, see `sqlite_snapshots`.)
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import InboxItem, StepCommit
from .sqlite_rows import dumps


def merged_position(stored: int | None, position: int | None) -> int | None:
    """A source's position after taking `position` (the larger one; None is no position)."""
    if stored is None:
        return position
    if position is None:
        return stored
    return max(stored, position)


def applicable_steps(
    items: Sequence[InboxItem],
    taken: Sequence[bool],
    applied: Sequence[StepCommit | None],
    stored: set[tuple[str, str]],
) -> list[tuple[int, StepCommit]]:
    """The steps of `applied` that may stand in for their items' inbox rows.

    Each key's steps were computed one after another from its snapshot, so a
    step holds only while every item of its key before it was applied: after a
    duplicate (an input already taken) or an item left for the inbox, the
    key's later items go to the inbox as well. A step that starts an instance
    (journal seq 0) holds only if the key has none in `stored`: the caller
    may not know every instance the store holds.
    """
    if not applied:
        return []
    if len(applied) != len(items):
        raise ValueError(f"{len(applied)} applied steps given for {len(items)} items")
    steps: list[tuple[int, StepCommit]] = []
    broken: set[tuple[str, str]] = set()
    for index, (item, ok, commit) in enumerate(zip(items, taken, applied, strict=True)):
        kid = (item.flow, item.key)
        if (
            commit is not None
            and ok
            and kid not in broken
            and not (starts_instance(commit) and kid in stored)
        ):
            steps.append((index, commit))
        else:
            broken.add(kid)
    return steps


def starts_instance(commit: StepCommit) -> bool:
    """Whether `commit` starts its instance (applies its first input)."""
    return commit.journal is not None and commit.journal.seq == 0


def commit_names(commits: Sequence[StepCommit]) -> str:
    """The instances `commits` write, for an error message (five at most)."""
    keys = sorted({f"{c.flow}/{c.key}" for c in commits})
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def snapshot_row(c: StepCommit) -> tuple[object, ...]:
    """`c`'s snapshot as PostgreSQL's `instances` row (INSTANCE_COLUMNS' order)."""
    snap = c.instance
    return (
        snap.flow,
        snap.key,
        snap.ir_hash,
        snap.seq,
        snap.state,
        snap.status,
        dumps(snap.snapshot),
        snap.updated_ms,
    )
