"""Operator commands against a store or a running flowd: incidents, dead letters,
retry and cancel.

With `--url` the request goes to a running flowd's HTTP API, which applies it
at once. With only `--store`, retry and cancel are written to the instance's
inbox and take effect when flowd next runs on that store; they are refused
while a flowd runs on it (it keeps its inbox in memory and would not see
them): use `--url` then.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from .model import Cancel, Instance, RetryIncident
from .store import InboxItem
from .store.ownership import StoreBusyError
from .store.targets import claim_store, open_store, open_store_for_reading

Action = Literal["retry", "cancel"]


class OperatorError(Exception):
    """The action cannot be taken (unknown instance, not an incident, ...)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an operator action did, for people."""

    message: str


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


async def list_incidents(store_path: str | Path, out: TextIO, *, flow: str | None = None) -> int:
    """Print the incidents in the store; returns how many there are."""
    store = await open_store_for_reading(store_path)
    try:
        rows = await store.instances(flow, status="incident")
    finally:
        await store.close()
    for row in rows:
        incident = row.snapshot.get("incident") or {}
        out.write(
            f"{_time(incident.get('at_ms'))}  {row.flow} {row.key}  in {row.state}: "
            f"{incident.get('reason', '?')}\n"
        )
    out.write(f"{len(rows)} incident(s)\n")
    return len(rows)


async def list_dead_letters(
    store_path: str | Path, out: TextIO, *, limit: int | None = None
) -> int:
    """Print the dead letters in the store, oldest first; returns how many were printed."""
    store = await open_store_for_reading(store_path)
    try:
        rows = await store.dead_letters(limit=limit)
    finally:
        await store.close()
    for row in rows:
        key = "" if row.record_key_text is None else f"  key {row.record_key_text}"
        out.write(
            f"#{row.id} {_time(row.at_ms)}  {row.source}{key}  [{row.topic or '-'}] {row.reason}\n"
            f"    {row.payload[:200]}\n"
        )
    out.write(f"{len(rows)} dead letter(s)\n")
    return len(rows)


def _check(action: Action, flow: str, key: str, instance: Instance | None) -> None:
    if instance is None:
        raise OperatorError(f"no instance {flow}/{key}")
    if action == "retry" and instance.status != "incident":
        raise OperatorError(f"{flow}/{key} is {instance.status}, not an incident")
    if action == "cancel" and instance.status in ("completed", "cancelled"):
        raise OperatorError(f"{flow}/{key} is already {instance.status}")


async def act_on_store(
    store_path: str | Path, action: Action, flow: str, key: str, *, reason: str = ""
) -> Outcome:
    """Queue `retry` or `cancel` in the instance's inbox (applied on the next run)."""
    import time

    try:
        ownership = await claim_store(store_path)
    except StoreBusyError as exc:
        # A running flowd keeps its inbox in memory: it would not see the request.
        raise OperatorError(f"{exc}: send the {action} to it with --url") from None
    try:
        store = await open_store(store_path)
        try:
            row = await store.load_instance(flow, key)
            instance = None if row is None else Instance.from_json(row.snapshot)
            _check(action, flow, key, instance)
            now = time.time_ns() // 1_000_000
            inp = RetryIncident(now) if action == "retry" else Cancel(now, reason)
            item = InboxItem(flow=flow, key=key, input=inp.to_json(), received_ms=now)
            await store.ingest([item])
        finally:
            await store.close()
    finally:
        await ownership.release()
    return Outcome(f"{action} of {flow}/{key} queued; it is applied when flowd runs on this store")


async def act_over_http(
    url: str, action: Action, flow: str, key: str, *, reason: str = ""
) -> Outcome:
    """Ask a running flowd to `retry` or `cancel` an instance (with `FLOWD_TOKEN`
    as the bearer token when it is set)."""
    import aiohttp
    from yarl import URL

    base = URL(url)
    target = base / "instances" / flow / key / action
    body: dict[str, Any] = {"reason": reason} if action == "cancel" and reason else {}
    token = os.environ.get("FLOWD_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(target, json=body, headers=headers) as response,
    ):
        text = await response.text()
        if response.status >= 400:
            try:
                answer = json.loads(text)
                message = f"{answer.get('error')}: {answer.get('detail')}"
            except ValueError:
                message = text
            raise OperatorError(f"{response.status} {message}")
    return Outcome(f"{action} of {flow}/{key} requested")
