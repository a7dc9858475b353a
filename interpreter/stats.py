"""Counts for dashboards, from `Store.gauges`, in one JSON shape for the API
(`GET /stats`) and for commands reading a store directly."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .store import StoreGauges


def stats_json(gauges: StoreGauges) -> dict[str, Any]:
    """The store's figures as `GET /stats` gives them."""
    return {
        "instances": [
            {"flow": flow, "state": state, "status": status, "count": count}
            for flow, state, status, count in gauges.instances
        ],
        "inbox": gauges.inbox,
        "inbox_ready": gauges.inbox_ready,
        "timers": gauges.timers,
        "timers_due": gauges.timers_due,
        "outbox_pending": gauges.outbox_pending,
        "dead_letters": gauges.dead_letters,
        "effect_calls": dict(gauges.effect_calls),
    }


StateCounts = dict[str, dict[str, int]]
"""state -> status -> instances."""


def counts_by_state(stats: dict[str, Any], flow: str) -> StateCounts:
    """One flow's instance counts by state, then status, from a stats body."""
    counts: StateCounts = defaultdict(dict)
    for row in stats["instances"]:
        if row["flow"] == flow:
            counts[row["state"]][row["status"]] = int(row["count"])
    return dict(counts)
