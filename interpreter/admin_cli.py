"""`flowd`'s admin commands: look at instances and steer them.

    flowd instances FLOW [--state S] [--status S] [--limit N] [--after KEY] [--url | --store]
    flowd show FLOW KEY [--after SEQ] [--limit N] [--format text|json] [--url | --store]
    flowd signal FLOW KEY NAME [--data JSON] [--idempotency-key K] --url URL
    flowd emitted [--topic T] [--after-offset N] [--limit N] [--url | --store]
    flowd replay-dead-letter ID --url URL
    flowd top [--interval S] [--once] [--url | --store]
    flowd graph FLOW [--format mermaid|dot|svg] [-o FILE] [--url | --store]
    flowd partitions --store postgresql://... [--format table|json]

Reads go to a running flowd (`--url`) or straight to its store (`--store`),
which they only read, so they work while a flowd runs on it. Commands that
change something go through a running flowd (`--url`), which applies them
at once; `--token` (or `FLOWD_TOKEN`) is sent as the bearer token.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from .admin_client import AdminError, FlowdClient
from .cliargs import positive_int

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
INSTANCE_STATUSES = ("active", "running", "completed", "incident", "cancelled")


def add_admin_commands(sub: Any, default_store: str) -> None:
    """Register the admin subcommands on flowd's subparsers."""

    def target(p: argparse.ArgumentParser, *, store: bool = True) -> None:
        group = p.add_mutually_exclusive_group(required=not store)
        group.add_argument(
            "--url", metavar="URL", help="a running flowd, e.g. http://127.0.0.1:8080"
        )
        if store:
            group.add_argument(
                "--store",
                default=default_store,
                metavar="PATH|URL",
                help="read this store directly: a SQLite file or postgresql://... "
                "(default: %(default)s)",
            )
        p.add_argument("--token", help="bearer token for --url (default: $FLOWD_TOKEN)")

    def output(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument("--format", choices=[default, "json"], default=default)

    p = sub.add_parser("instances", help="list a flow's instances (by state and status)")
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("--state", help="only instances in this state")
    p.add_argument("--status", choices=INSTANCE_STATUSES, help="only instances with this status")
    p.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N (50)")
    p.add_argument("--after", metavar="KEY", help="keys after this one: the next page")
    target(p)
    output(p, "table")
    p.set_defaults(run=_admin(_instances))

    p = sub.add_parser("show", help="an instance and its history, from its journal")
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--after", type=int, default=-1, metavar="SEQ", help="journal entries after SEQ")
    p.add_argument(
        "--limit", type=positive_int, default=100, metavar="N", help="journal entries (100)"
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME",
        help="with --store: an environment variable the flow reads (to replay its data)",
    )
    target(p)
    output(p, "text")
    p.set_defaults(run=_admin(_show))

    p = sub.add_parser("signal", help="send a signal to an instance")
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("key", metavar="KEY")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--data", default="{}", metavar="JSON", help="the payload (default: {})")
    p.add_argument("--idempotency-key", metavar="K", help="send it once, however often retried")
    target(p, store=False)
    p.set_defaults(run=_admin(_signal))

    p = sub.add_parser("emitted", help="records flows emitted (outbox and embedded log)")
    p.add_argument("--topic", help="only this topic (default: every topic flows emit to)")
    p.add_argument("--after-offset", type=int, default=-1, metavar="N")
    p.add_argument("--limit", type=positive_int, default=50, metavar="N")
    target(p)
    output(p, "text")
    p.set_defaults(run=_admin(_emitted))

    p = sub.add_parser("top", help="a live dashboard: instances per state, throughput, backlog")
    p.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    target(p)
    p.set_defaults(run=_admin(_top))

    p = sub.add_parser("graph", help="a flow's picture with how many instances are in each state")
    p.add_argument("flow", metavar="FLOW", help="the flow's name")
    p.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    target(p)
    p.set_defaults(run=_admin(_graph))

    p = sub.add_parser(
        "partitions",
        help="which flowd holds each partition of a shared PostgreSQL store, and its backlog",
    )
    p.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="a PostgreSQL store several flowd share (postgresql://...)",
    )
    output(p, "table")
    p.set_defaults(run=_admin(_partitions))

    p = sub.add_parser(
        "replay-dead-letter", help="offer a dead-lettered event again, after its flow is fixed"
    )
    p.add_argument("id", type=int, metavar="ID", help="the id `flowd dead-letters` shows (#ID)")
    target(p, store=False)
    p.set_defaults(run=_admin(_replay))


Command = Callable[[argparse.Namespace, TextIO], Coroutine[Any, Any, int]]


def _admin(command: Command) -> Callable[[argparse.Namespace], int]:
    """Run an async admin command; errors become a line on stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(command(args, sys.stdout))
        except AdminError as exc:
            sys.stderr.write(f"flowd: {exc}\n")
            return EXIT_ERRORS

    return run


def _client(args: argparse.Namespace) -> FlowdClient:
    return FlowdClient(args.url, args.token)


async def _open_store(args: argparse.Namespace) -> Any:
    from .store import StoreError
    from .store.targets import display, open_store_for_reading, store_exists

    if not store_exists(args.store):
        raise AdminError(
            f"no store at {args.store} (use --store PATH or postgresql://..., "
            "or --url for a running flowd)"
        )
    try:
        return await open_store_for_reading(args.store)
    except (StoreError, ValueError) as exc:
        raise AdminError(f"cannot open the store {display(args.store)}: {exc}") from None


def _write_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


# ---------------------------------------------------------------- instances


def snapshot_json(snapshot: dict[str, Any]) -> dict[str, Any]:
    """An instance read from a store, in the shape `GET /instances/{flow}` gives."""
    incident = snapshot.get("incident")
    return {
        "flow": snapshot["flow"],
        "key": snapshot["key"],
        "ir_hash": snapshot["ir_hash"],
        "state": snapshot["state"],
        "status": snapshot["status"],
        "data": snapshot["data"],
        "seq": snapshot["seq"],
        "timers": dict(sorted((snapshot.get("timers") or {}).items())),
        "deferred": len(snapshot.get("deferred") or []),
        "incident": None if not incident else {"reason": incident.get("reason")},
    }


async def _instances(args: argparse.Namespace, out: TextIO) -> int:
    if args.url:
        client = _client(args)
        params: dict[str, str | int] = {"limit": args.limit}
        for name in ("state", "status", "after"):
            if getattr(args, name):
                params[name] = getattr(args, name)
        body = await client.get(client.path("instances", args.flow), **params)
        items = list(body["instances"])
    else:
        store = await _open_store(args)
        try:
            rows = await store.instances(
                args.flow,
                state=args.state,
                status=args.status,
                limit=args.limit,
                after_key=args.after,
            )
        finally:
            await store.close()
        items = [snapshot_json(row.snapshot) for row in rows]
    if args.format == "json":
        _write_json(out, items)
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table("key", "state", "status", "seq", "timers", "incident", box=None)
    for item in items:
        incident = item.get("incident") or {}
        table.add_row(
            str(item["key"]),
            str(item["state"]),
            str(item["status"]),
            str(item["seq"]),
            ", ".join(item.get("timers") or {}),
            str(incident.get("reason") or ""),
        )
    console = Console(file=out, highlight=False, soft_wrap=True)
    console.print(table)
    out.write(f"{len(items)} instance(s) of {args.flow}\n")
    if items and len(items) == args.limit:
        out.write(f"more: add --after {items[-1]['key']}\n")
    return EXIT_OK


# ---------------------------------------------------------------- partitions


async def _partitions(args: argparse.Namespace, out: TextIO) -> int:
    from .store.targets import is_postgres_url

    if not is_postgres_url(args.store):
        raise AdminError(
            f"--store {args.store}: partitions belong to a PostgreSQL store shared by "
            "several flowd (postgresql://...); a SQLite store has one flowd and no partitions"
        )
    store = await _open_store(args)
    try:
        rows = await store.partition_report()
    finally:
        await store.close()
    if args.format == "json":
        _write_json(out, [dataclasses.asdict(row) for row in rows])
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "partition", "epoch", "held by", "claimed", "inbox", "timers", "calls", "unsent", box=None
    )
    for row in rows:
        table.add_row(
            str(row.partition),
            "-" if row.epoch is None else str(row.epoch),
            row.owner or "nobody yet",
            "-" if row.claimed_ms is None else _utc(row.claimed_ms),
            str(row.inbox),
            str(row.timers),
            str(row.calls),
            str(row.unsent),
        )
    # Owner ids and times are printed whole, however narrow the terminal.
    width = 100 + max((len(row.owner or "") for row in rows), default=0)
    Console(file=out, highlight=False, width=width).print(table)
    holders = {row.owner for row in rows if row.owner}
    out.write(f"{len(rows)} partitions held by {len(holders)} flowd\n")
    return EXIT_OK


def _utc(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- show


async def _show(args: argparse.Namespace, out: TextIO) -> int:
    from .history import render_text

    if args.url:
        client = _client(args)
        instance = await client.get(client.path("instances", args.flow, args.key))
        page = await client.get(
            client.path("instances", args.flow, args.key, "history"),
            after_seq=args.after,
            limit=args.limit,
        )
    else:
        instance, page = await _show_from_store(args)
    if args.format == "json":
        _write_json(out, {"instance": instance, "history": page})
        return EXIT_OK
    out.write(
        f"{instance['flow']} {instance['key']}  state {instance['state']}  "
        f"status {instance['status']}  seq {instance['seq']}\n"
    )
    if instance.get("incident"):
        out.write(f"  incident: {instance['incident'].get('reason')}\n")
        out.write(
            f"  retry it once its cause is fixed: flowd retry {args.flow} {args.key} --url URL\n"
        )
    out.write(f"  data {json.dumps(instance['data'], ensure_ascii=False)}\n")
    out.write(render_text(page))
    return EXIT_OK


async def _show_from_store(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    import os

    from .history import MAX_PAGE, instance_history, programs_in_store

    missing = [name for name in args.env if name not in os.environ]
    if missing:
        raise AdminError(f"--env {missing[0]}: the variable is not set")
    store = await _open_store(args)
    try:
        row = await store.load_instance(args.flow, args.key)
        if row is None:
            raise AdminError(f"no instance {args.flow}/{args.key} in {args.store}")
        page = await instance_history(
            store,
            args.flow,
            args.key,
            await programs_in_store(store),
            env={name: os.environ[name] for name in args.env},
            after_seq=args.after,
            limit=min(args.limit, MAX_PAGE),
        )
    finally:
        await store.close()
    assert page is not None  # the instance exists
    return snapshot_json(row.snapshot), page.to_json()


# ---------------------------------------------------------------- signal, replay


async def _signal(args: argparse.Namespace, out: TextIO) -> int:
    try:
        payload = json.loads(args.data)
    except ValueError as exc:
        raise AdminError(f"--data is not JSON: {exc}") from None
    client = _client(args)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    body = await client.post(
        client.path("signals", args.flow, args.key, args.name), payload, headers=headers
    )
    again = " (already sent before)" if body.get("duplicate") else ""
    out.write(f"signal {args.name} to {args.flow}/{args.key} accepted{again}\n")
    return EXIT_OK


async def _replay(args: argparse.Namespace, out: TextIO) -> int:
    client = _client(args)
    try:
        body = await client.post(client.path("dead-letters", str(args.id), "replay"))
    except AdminError as exc:
        raise AdminError(f"dead letter #{args.id} not replayed: {exc}") from None
    if body.get("duplicate"):
        out.write(f"dead letter #{args.id} was already replayed to these flow versions\n")
    elif body["status"] == "accepted":
        targets = ", ".join(f"{d['flow']}/{d['key']} ({d['event']})" for d in body["deliveries"])
        out.write(f"dead letter #{args.id} accepted: {targets}\n")
    else:
        out.write(f"dead letter #{args.id}: {body['status']}\n")
    return EXIT_OK


# ---------------------------------------------------------------- emitted


async def _emitted(args: argparse.Namespace, out: TextIO) -> int:
    if args.url:
        client = _client(args)
        params: dict[str, str | int] = {"limit": args.limit, "after_offset": args.after_offset}
        if args.topic:
            params["topic"] = args.topic
        body = await client.get("/emitted", **params)
    else:
        body = await _emitted_from_store(args)
    if args.format == "json":
        _write_json(out, body)
        return EXIT_OK
    for row in body["pending"]:
        out.write(f"pending   {row['topic']}  key {row['key']}  {_compact(row['value'])}\n")
    for record in body["log"]:
        out.write(
            f"#{record['offset']:<6} {record['topic']}  key {record['key']}  "
            f"{_compact(record['value'])}\n"
        )
    out.write(
        f"{len(body['pending'])} pending in the outbox, {len(body['log'])} in the log"
        f" ({', '.join(body['topics']) or 'no emit topics'})\n"
    )
    if body.get("next_after_offset") is not None:
        out.write(f"more: add --after-offset {body['next_after_offset']}\n")
    return EXIT_OK


async def _emitted_from_store(args: argparse.Namespace) -> dict[str, Any]:
    from .emitted import emit_topics, emitted
    from .program import Program, ProgramError

    store = await _open_store(args)
    try:
        programs: list[Program] = []
        for stored in await store.load_irs():
            try:
                programs.append(Program.from_ir(stored.ir))
            except ProgramError:
                continue
        topics = [args.topic] if args.topic else emit_topics(programs)
        return await emitted(store, topics, after_offset=args.after_offset, limit=args.limit)
    finally:
        await store.close()


def _compact(value: Any, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- top, graph


async def _stats_from_store(args: argparse.Namespace) -> dict[str, Any]:
    import time

    from .stats import stats_json

    store = await _open_store(args)
    try:
        return stats_json(await store.gauges(time.time_ns() // 1_000_000))
    finally:
        await store.close()


async def _top(args: argparse.Namespace, out: TextIO) -> int:
    from .top import run_top

    if args.interval <= 0:
        raise AdminError("--interval must be positive")
    if args.url:
        client = _client(args)

        async def source() -> dict[str, Any]:
            return dict(await client.get("/stats"))

        where = args.url
    else:

        async def source() -> dict[str, Any]:
            return await _stats_from_store(args)

        where = args.store
    await run_top(source, where, interval=args.interval, once=args.once)  # Ctrl-C leaves
    return EXIT_OK


async def _graph(args: argparse.Namespace, out: TextIO) -> int:
    from .graph_counts import annotated_graph
    from .stats import counts_by_state

    if args.url:
        client = _client(args)
        ir = (await client.get(client.path("flows", args.flow)))["ir"]
        stats = await client.get("/stats")
    else:
        store = await _open_store(args)
        try:
            versions = await store.load_irs(args.flow)
        finally:
            await store.close()
        if not versions:
            raise AdminError(f"no flow {args.flow!r} in {args.store}")
        ir = versions[-1].ir
        stats = await _stats_from_store(args)
    try:
        picture = annotated_graph(ir, counts_by_state(stats, args.flow), args.format)
    except Exception as exc:  # GraphvizMissing / GraphvizError from flowc's drawing
        raise AdminError(str(exc)) from None
    if args.output:
        Path(args.output).write_text(picture, encoding="utf-8")
        out.write(f"wrote {args.output}\n")
    else:
        out.write(picture)
    return EXIT_OK
