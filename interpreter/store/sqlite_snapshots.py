"""How the SQLite store keeps an instance's row small (schema version 7).

A step rewrites its instance's row at a random place in `instances`, and every
commit writes each page it changed whole to the WAL: the fewer rows to a page,
the more pages a transaction of small steps writes. So the row holds

- the IR hash as a small integer, interned in `ir_names` (the hash is 71
  characters; an instance's row was some 350 bytes);
- the snapshot in its compact form where it can (`compact` = 1): without the
  six fields the row's columns hold already and without the fields that are
  at their empty defaults. Reading it puts them back, in `Instance.to_json`'s
  order (a field the stored text has wins: a snapshot edited by hand reads
  as edited). A snapshot of any other shape is kept as it was given
  (`compact` = 0), so every snapshot reads back equal to what was written.
"""

from __future__ import annotations

from typing import Any

from .base import InstanceRow
from .sqlite_rows import Row, dumps, loads_object

INSTANCE_SELECT = (
    "i.flow, i.key, n.ir_hash, i.seq, i.state, i.status, i.snapshot, i.updated_ms, i.compact"
)
"""The columns `stored_instance` decodes, from `INSTANCES`."""

INSTANCES = "instances AS i JOIN ir_names AS n ON n.id = i.ir"
"""The instance rows with their IR hashes."""

_FIELDS = (
    "flow",
    "key",
    "ir_hash",
    "seq",
    "state",
    "status",
    "data",
    "timers",
    "deferred",
    "pending",
    "incident",
)
"""The fields of a snapshot (`Instance.to_json`), in its order; the first six
are the row's columns."""
_EMPTY: tuple[tuple[str, Any], ...] = (
    ("timers", {}),
    ("deferred", []),
    ("pending", None),
    ("incident", None),
)
"""The fields a compact snapshot leaves out when they are at these values
(compared, never changed)."""


def snapshot_text(row: InstanceRow) -> tuple[str, int]:
    """`row`'s snapshot as stored, and whether that is the compact form: for a
    snapshot with the fields of `Instance.to_json` and no others, the six the
    row's columns hold equal to them."""
    snap = row.snapshot
    try:
        if (
            len(snap) == len(_FIELDS)
            and snap["flow"] == row.flow
            and snap["key"] == row.key
            and snap["state"] == row.state
            and snap["status"] == row.status
            and snap["ir_hash"] == row.ir_hash
            and snap["seq"].__class__ is int
            and snap["seq"] == row.seq
        ):
            body = {"data": snap["data"]}
            for name, empty in _EMPTY:
                value = snap[name]
                if value != empty:
                    body[name] = value
            return dumps(body), 1
    except KeyError:  # another shape: kept as given
        pass
    return dumps(snap), 0


def stored_instance(r: Row) -> InstanceRow:
    """Decode `SELECT INSTANCE_SELECT FROM INSTANCES`."""
    flow, key, ir_hash, seq, state, status, text, updated_ms, compact = r
    snapshot = loads_object(text)
    if compact:
        body = snapshot
        snapshot = {
            "flow": flow,
            "key": key,
            "ir_hash": ir_hash,
            "seq": seq,
            "state": state,
            "status": status,
            "data": None,
            # New containers each time: the caller may change what it gets.
            "timers": {},
            "deferred": [],
            "pending": None,
            "incident": None,
        }
        snapshot.update(body)
    return InstanceRow(flow, key, ir_hash, seq, state, status, snapshot, updated_ms)
