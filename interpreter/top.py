"""`flowd top`: a live terminal dashboard of a running flowd (or of a store).

    flowd top [--url URL | --store PATH] [--interval SECONDS] [--once]

Instances per state for each flow (incidents in red), throughput (steps per
second between two refreshes), the backlog (inbox, due timers, outbox),
effects running and waiting, incidents and dead letters. rich draws it;
Ctrl-C leaves. `--once` prints one frame and exits (for scripts).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .stats import counts_by_state

StatsSource = Callable[[], Awaitable[dict[str, Any]]]
"""Where the figures come from: `GET /stats`, or a store's gauges."""


@dataclass(slots=True)
class Rate:
    """Steps per second between two readings of the runtime's step counter."""

    last_steps: int | None = None
    last_time: float | None = None

    def update(self, steps: int | None, now: float) -> float | None:
        if steps is None:
            return None
        rate = None
        if self.last_steps is not None and self.last_time is not None and now > self.last_time:
            rate = max(0, steps - self.last_steps) / (now - self.last_time)
        self.last_steps, self.last_time = steps, now
        return rate


def frame(stats: dict[str, Any], rate: float | None, where: str) -> RenderableType:
    """One picture of the figures."""
    flows = sorted({row["flow"] for row in stats["instances"]} | set(stats.get("flows", [])))
    incidents = sum(r["count"] for r in stats["instances"] if r["status"] == "incident")
    summary = Table.grid(padding=(0, 3))
    for _ in range(4):
        summary.add_column()
    throughput = "-" if rate is None else f"{rate:.1f}/s"
    running = stats.get("effects_running")
    waiting = stats.get("effects_waiting")
    summary.add_row(
        f"throughput [bold]{throughput}[/]",
        f"inbox [bold]{stats['inbox']}[/] ({stats['inbox_ready']} ready)",
        f"timers [bold]{stats['timers']}[/] ({stats['timers_due']} due)",
        f"outbox [bold]{stats['outbox_pending']}[/] pending",
    )
    summary.add_row(
        "effects " + ("-" if running is None else f"[bold]{running}[/] running, {waiting} waiting"),
        "incidents " + (f"[bold red]{incidents}[/]" if incidents else "0"),
        "dead letters "
        + (f"[bold red]{stats['dead_letters']}[/]" if stats["dead_letters"] else "0"),
        f"calls {_calls(stats.get('effect_calls') or {})}",
    )
    parts: list[RenderableType] = [summary]
    for flow in flows:
        table = Table(title=flow, title_justify="left", box=None, pad_edge=False)
        for column in ("state", "active", "running", "incident", "completed", "cancelled"):
            table.add_column(column, justify="left" if column == "state" else "right")
        for state, statuses in sorted(counts_by_state(stats, flow).items()):
            table.add_row(
                state,
                *(
                    _cell(statuses.get(status, 0), status)
                    for status in ("active", "running", "incident", "completed", "cancelled")
                ),
            )
        parts.append(table)
    return Panel(Group(*parts), title=f"flowd top — {where}", subtitle=time.strftime("%H:%M:%S"))


def _cell(count: int, status: str) -> Text:
    if not count:
        return Text("·", style="dim")
    return Text(str(count), style="bold red" if status == "incident" else "")


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{status} {n}" for status, n in sorted(calls.items()) if n) or "none"


async def run_top(source: StatsSource, where: str, *, interval: float, once: bool) -> None:
    """Refresh the dashboard every `interval` seconds until Ctrl-C (once with `once`)."""
    import asyncio

    from rich.console import Console
    from rich.live import Live

    console = Console()
    rate = Rate()
    stats = await source()
    rate.update(stats.get("steps"), time.monotonic())
    if once:
        console.print(frame(stats, None, where))
        return
    with Live(frame(stats, None, where), console=console, auto_refresh=False) as live:
        while True:
            await asyncio.sleep(interval)
            stats = await source()
            live.update(frame(stats, rate.update(stats.get("steps"), time.monotonic()), where))
            live.refresh()
