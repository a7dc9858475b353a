"""`flowd`: run flows durably, and look after what they left in the store.

    flowd run FLOW... [--store PATH] [--http HOST:PORT | --no-http] [--events FILE.jsonl]
                      [--env NAME ...] [--exit-when-idle] [--clock-speed N]
                      [--kafka BOOTSTRAP [--group ID] [--kafka-option NAME=VALUE ...]]
    flowd send [TOPIC JSON] [--key K] [--header K=V ...] [--events FILE.jsonl] --kafka BOOTSTRAP
    flowd verify [--store PATH] [--flow F] [--env NAME ...]
    flowd incidents [--store PATH] [--flow F]
    flowd dead-letters [--store PATH] [--limit N]
    flowd retry FLOW KEY [--store PATH | --url URL]
    flowd cancel FLOW KEY [--store PATH | --url URL] [--reason TEXT]
    flowd test SCENARIO... [--verbose]
    flowd instances | show | signal | emitted | replay-dead-letter   (admin_cli.py)

Exit codes: 0 success, 1 errors (compile errors, a failed verification, an
action refused), 2 usage or I/O errors, 130 a second Ctrl-C during a drain.
Everything beyond argument parsing is imported lazily so that start-up stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
DEFAULT_STORE = "flowd.db"
DEFAULT_HTTP = "127.0.0.1:8080"


class UsageError(Exception):
    """A usage or I/O problem: message for stderr, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run flowd with `argv` (default: sys.argv[1:]) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.version:
        sys.stdout.write(f"flowd {_version()}\n")
        return EXIT_OK
    if args.command is None:
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except UsageError as exc:
        sys.stderr.write(f"flowd: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from .store import StoreError

        if not isinstance(exc, OSError | StoreError):
            raise
        # A store that cannot be opened or written (unreachable server, newer
        # schema, missing, read-only, full, not a database): one line, no traceback.
        sys.stderr.write(f"flowd: error: {exc}\n")
        return EXIT_USAGE
    return code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowyard")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """flowd's argument parser (subcommands set `run`, a function of the namespace)."""
    import argparse

    from .cliargs import add_bounds_options, clock_speed, positive_int

    parser = argparse.ArgumentParser(prog="flowd", description="Run Flowyard flows durably.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def store_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store",
            default=DEFAULT_STORE,
            metavar="PATH|URL",
            help="SQLite file, or postgresql://user@host/db[?schema=NAME] (default: %(default)s)",
        )

    def env_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--env",
            action="append",
            default=[],
            metavar="NAME",
            help="an environment variable flows may read as env.NAME (repeatable; only these)",
        )

    p = sub.add_parser("run", help="run flows: HTTP ingress, events file, live transitions")
    p.add_argument("flows", nargs="+", metavar="FLOW", help=".flow.yaml, .flow or IR .json files")
    store_arg(p)
    web = p.add_mutually_exclusive_group()
    web.add_argument(
        "--http",
        default=DEFAULT_HTTP,
        metavar="HOST:PORT",
        help="where the HTTP API listens (default: %(default)s; port 0 picks a free one)",
    )
    web.add_argument("--no-http", action="store_true", help="do not serve HTTP")
    p.add_argument(
        "--events",
        action="append",
        default=[],
        metavar="FILE.jsonl",
        help='feed a JSON Lines file ({"topic": ..., "value": {...}} per line; repeatable)',
    )
    env_arg(p)
    p.add_argument(
        "--exit-when-idle",
        action="store_true",
        help="exit once the events are fed and nothing is running, waiting or due",
    )
    p.add_argument(
        "--clock-speed",
        type=clock_speed,
        metavar="N",
        help="run flow time N times faster than the wall clock (demos: 3600 makes 1h a second)",
    )
    p.add_argument(
        "--synchronous",
        choices=["FULL", "NORMAL", "OFF"],
        default="FULL",
        help="SQLite durability (default FULL: an acknowledged input survives power loss)",
    )
    p.add_argument(
        "--store-writer",
        choices=["process", "thread"],
        default="process",
        help="where SQLite's writes run: a process of their own (default: the event loop keeps "
        "its CPU) or a thread of flowd's",
    )
    p.add_argument("--max-concurrent-keys", type=positive_int, default=256, metavar="N")
    add_bounds_options(p)
    p.add_argument(
        "--max-effects-in-flight",
        type=positive_int,
        default=1000,
        metavar="N",
        help="at most N effect attempts run at once; more wait their turn (default: %(default)s)",
    )
    p.add_argument(
        "--max-backlog",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="POST /events and signals answer 429 with Retry-After while N inputs and effect "
        "calls wait (default: %(default)s)",
    )
    p.add_argument(
        "--partitions",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --kafka on PostgreSQL: the store partitions several flowd share, fixed "
        "when the store is created (default: 12; see docs/scaling.md)",
    )
    p.add_argument(
        "--no-step-on-arrival",
        dest="step_on_arrival",
        action="store_false",
        help="put every input in its key's inbox first, to acknowledge bursts sooner "
        "(default: step input for idle keys as it arrives, in the transaction storing it)",
    )
    p.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="a Python module (and its submodules) flows may call besides the project's own "
        "(repeatable)",
    )
    p.add_argument(
        "--token-file",
        metavar="PATH",
        help="the operator token (default: $FLOWD_TOKEN); needed to listen beyond loopback",
    )
    p.add_argument("--quiet", action="store_true", help="no line per transition")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="error")
    kafka_args(p, run=True)
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="json: one JSON line on stderr per transition and failed effect attempt",
    )
    p.add_argument(
        "--config",
        metavar="FLOWD.TOML",
        help="settings (store, http, token, limits, log); options and FLOWD_* variables win",
    )
    p.set_defaults(run=_run)

    p = sub.add_parser("send", help="produce a record (or an events file) to Kafka")
    p.add_argument("topic", nargs="?", metavar="TOPIC")
    p.add_argument("value", nargs="?", metavar="JSON", help="the record's value, JSON text")
    p.add_argument("--key", metavar="K", help="the record's key")
    p.add_argument(
        "--header", action="append", default=[], metavar="K=V", help="a header (repeatable)"
    )
    p.add_argument(
        "--events",
        action="append",
        default=[],
        metavar="FILE.jsonl",
        help="produce each event line of a JSON Lines file (as `flowd run --events` reads it)",
    )
    kafka_args(p, run=False)
    p.set_defaults(run=_send)

    p = sub.add_parser("verify", help="replay every journal and compare with the snapshots")
    store_arg(p)
    p.add_argument("--flow", help="only instances of this flow")
    env_arg(p)
    p.set_defaults(run=_verify)

    p = sub.add_parser("incidents", help="list instances waiting for an operator")
    store_arg(p)
    p.add_argument("--flow", help="only instances of this flow")
    p.set_defaults(run=_incidents)

    p = sub.add_parser("dead-letters", help="list inputs that could not be accepted")
    store_arg(p)
    p.add_argument("--limit", type=positive_int, default=None, metavar="N")
    p.set_defaults(run=_dead_letters)

    for action, text in (("retry", "retry an incident"), ("cancel", "cancel an instance")):
        p = sub.add_parser(action, help=text)
        p.add_argument("flow", metavar="FLOW")
        p.add_argument("key", metavar="KEY")
        target = p.add_mutually_exclusive_group()
        target.add_argument("--store", default=DEFAULT_STORE, metavar="PATH|URL")
        target.add_argument(
            "--url", metavar="URL", help="a running flowd, e.g. http://127.0.0.1:8080"
        )
        if action == "cancel":
            p.add_argument("--reason", default="", help="why (kept with the instance)")
        p.set_defaults(run=_operator, action=action)

    from .admin_cli import add_admin_commands

    add_admin_commands(sub, DEFAULT_STORE)

    # Further subcommands register here, each with `p.set_defaults(run=...)`;
    # `flowd test` (the scenario runner, interpreter/scenario/) is added below.
    p = sub.add_parser("test", help="run scenario files against the real interpreter")
    p.add_argument(
        "scenarios", nargs="+", metavar="SCENARIO", help="*.scenario.yaml files or folders"
    )
    p.add_argument("--verbose", "-v", action="store_true", help="print every step as it runs")
    p.set_defaults(run=_test)
    return parser


def kafka_args(p: argparse.ArgumentParser, *, run: bool) -> None:
    """`--kafka` and the options that go with it."""
    p.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        required=not run,
        help="Kafka bootstrap servers, host:port[,host:port...]"
        + (": consume the flows' topics, produce emits and dead letters there" if run else ""),
    )
    p.add_argument(
        "--kafka-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an aiokafka client option, e.g. security_protocol=SASL_SSL (repeatable)",
    )
    if run:
        from .cliargs import duration_ms, positive_int
        from .kafka.settings import DEFAULT_MAX_PARTITION_BACKLOG, DEFAULT_MAX_PENDING_KEYS

        p.add_argument("--group", default="flowd", metavar="ID", help="consumer group id")
        p.add_argument(
            "--create-topics",
            type=positive_int,
            default=None,
            metavar="N",
            help="create the topics the flows read that do not exist yet, with N partitions "
            "(default: say which are missing)",
        )
        p.add_argument(
            "--dead-letter-topic",
            default="flowd.dead-letters",
            metavar="TOPIC",
            help="where dead letters of Kafka records are produced (default: %(default)s)",
        )
        p.add_argument(
            "--max-partition-backlog",
            type=positive_int,
            default=DEFAULT_MAX_PARTITION_BACKLOG,
            metavar="N",
            help="pause a Kafka partition while N of its records wait in inboxes, not yet "
            "applied; resume it below half (default: %(default)s)",
        )
        p.add_argument(
            "--max-pending-keys",
            type=positive_int,
            default=DEFAULT_MAX_PENDING_KEYS,
            metavar="N",
            help="pause every Kafka partition while N keys wait to be stepped; resume below "
            "half (default: %(default)s)",
        )
        p.add_argument(
            "--emit-dedup-retention",
            type=duration_ms,
            default="7d",
            metavar="DURATION",
            help="how long the dedup key of an emitted record read from Kafka is kept: a copy "
            "of it arriving later is applied again (default: %(default)s)",
        )


def _kafka_settings(args: argparse.Namespace) -> Any:
    from .kafka.settings import KafkaSettings, KafkaSettingsError, check_options, parse_options

    if not args.kafka:
        if args.kafka_option:
            raise UsageError("--kafka-option needs --kafka")
        return None
    try:
        options = parse_options(args.kafka_option)
        check_options(options)
    except KafkaSettingsError as exc:
        raise UsageError(str(exc)) from None
    extra = {}
    if hasattr(args, "group"):
        extra = {
            "group": args.group,
            "dead_letter_topic": args.dead_letter_topic or None,
            "max_partition_backlog": args.max_partition_backlog,
            "max_pending_keys": args.max_pending_keys,
            "emit_dedup_retention_ms": args.emit_dedup_retention,
            "create_topics": args.create_topics,
        }
    return KafkaSettings(bootstrap=args.kafka, options=options, **extra)


# ---------------------------------------------------------------- loading flows


def load_flows(paths: Sequence[str], err: TextIO) -> list[dict[str, Any]] | None:
    """Compile each FLOW (or read an IR .json); prints diagnostics like flowc.

    Returns the IRs, or None when any file has errors.
    """
    from ..compiler.api import compile_file

    irs: list[dict[str, Any]] = []
    failed = False
    for path in paths:
        if path.endswith(".json"):
            ir = _read_ir(path, err)
            if ir is None:
                failed = True
            else:
                irs.append(ir)
            continue
        ir, diagnostics = compile_file(path)
        if diagnostics:
            _report(diagnostics, err)
        if ir is None:
            failed = True
        else:
            irs.append(ir)
    return None if failed else irs


def _read_ir(path: str, err: TextIO) -> dict[str, Any] | None:
    import json

    from ..compiler.ir import InvalidIRError, validate_ir

    try:
        ir = json.loads(Path(path).read_text(encoding="utf-8"))
        validate_ir(ir)
    except (OSError, UnicodeDecodeError) as exc:
        err.write(f"{path}: error: cannot read: {exc}\n")
        return None
    except ValueError as exc:
        kind = "not a valid IR" if isinstance(exc, InvalidIRError) else "not JSON"
        err.write(f"{path}: error: {kind}: {exc}\n")
        return None
    if not isinstance(ir, dict):
        err.write(f"{path}: error: not a valid IR: the top level must be an object\n")
        return None
    return ir


def _report(diagnostics: Sequence[Any], stream: TextIO) -> None:
    import os

    from ..compiler.render import render_lines, source_lookup

    lines = render_lines(diagnostics, sources=source_lookup(), with_summary=True)
    colour = stream.isatty() and not os.environ.get("NO_COLOR")
    if not colour:
        stream.write("".join("".join(t for t, _ in line) + "\n" for line in lines))
        return
    from rich.console import Console
    from rich.text import Text

    styles = {
        "error": "bold red",
        "warning": "bold yellow",
        "location": "bold",
        "gutter": "bold blue",
        "hint": "cyan",
        "more": "dim",
        "summary": "bold",
    }
    console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
    for line in lines:
        console.print(Text.assemble(*[(t, styles.get(r or "", "")) for t, r in line]))


def _env(names: Sequence[str]) -> dict[str, str]:
    import os

    env: dict[str, str] = {}
    for entry in names:
        for part in entry.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in os.environ:
                raise UsageError(f"--env {name}: the variable is not set")
            env[name] = os.environ[name]
    return env


# ---------------------------------------------------------------- commands


def _run(args: argparse.Namespace) -> int:
    import logging

    from .cliargs import bounds_of
    from .config import ConfigError, apply
    from .serve import RunOptions, run

    try:
        args = apply(args, build_parser().parse_args(["run", "-"]), config=args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.log_format == "json":
        from .jsonlog import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    http = None
    if not args.no_http:
        from .http import parse_address

        try:
            http = parse_address(args.http)
        except ValueError as exc:
            raise UsageError(f"--http: {exc}") from None
    token = _token(args.token_file)
    if http is not None and not token:
        from .http.access import needs_token

        if needs_token(http[0]):
            raise UsageError(
                f"--http {args.http} is reachable from other machines: give an operator "
                "token (FLOWD_TOKEN or --token-file) so that only operators can send input"
            )
    for events in args.events:
        if not Path(events).is_file():
            raise UsageError(f"--events {events}: no such file")
    env = _env(args.env)
    kafka = _kafka_settings(args)
    irs = load_flows(args.flows, sys.stderr)
    if irs is None:
        return EXIT_ERRORS
    from .startup_checks import startup_problems

    problems = startup_problems(irs, env)
    if problems:
        sys.stderr.write("".join(f"flowd: error: {problem}\n" for problem in problems))
        return EXIT_USAGE
    colour = {"auto": None, "always": True, "never": False}[args.color]
    options = RunOptions(
        irs=irs,
        store_path=_store_target(args.store),
        http=http,
        events=[Path(e) for e in args.events],
        env=env,
        exit_when_idle=args.exit_when_idle,
        clock_speed=args.clock_speed,
        synchronous=args.synchronous,
        store_writer=args.store_writer,
        max_concurrent_keys=args.max_concurrent_keys,
        step_on_arrival=args.step_on_arrival,
        max_effects_in_flight=args.max_effects_in_flight,
        max_backlog=args.max_backlog,
        allowed_modules=[m.strip() for e in args.allow_module for m in e.split(",") if m.strip()],
        token=token,
        log_format=args.log_format,
        bounds=bounds_of(args),
        quiet=args.quiet,
        colour=colour,
        kafka=kafka,
        partitions=args.partitions,
    )
    if args.partitions is not None and not options.partitioned:
        raise UsageError("--partitions needs --kafka and a postgresql:// --store")
    return run(options)


def _send(args: argparse.Namespace) -> int:
    import asyncio

    from .kafka.send import SendError, send_events, send_one

    settings = _kafka_settings(args)
    if (args.topic is None) != (args.value is None):
        raise UsageError("give both TOPIC and JSON, or neither (with --events)")
    if args.topic is None and not args.events:
        raise UsageError("nothing to send: give TOPIC JSON or --events FILE.jsonl")
    for events in args.events:
        if not Path(events).is_file():
            raise UsageError(f"--events {events}: no such file")
    headers: dict[str, str] = {}
    for entry in args.header:
        name, sep, value = entry.partition("=")
        if not sep or not name:
            raise UsageError(f"--header {entry}: write NAME=VALUE")
        headers[name] = value
    try:
        if args.topic is not None:
            report = asyncio.run(send_one(settings, args.topic, args.value, args.key, headers))
            sys.stdout.write(report + "\n")
        for events in args.events:
            report = asyncio.run(send_events(settings, Path(events)))
            sys.stdout.write(f"{events}: {report}\n")
    except SendError as exc:
        sys.stderr.write(f"flowd: {exc}\n")
        return EXIT_ERRORS
    return EXIT_OK


def _token(token_file: str | None) -> str | None:
    """The operator token from `--token-file` or `FLOWD_TOKEN` (None when neither)."""
    import os

    if token_file is None:
        return os.environ.get("FLOWD_TOKEN") or None
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--token-file {token_file}: cannot read: {exc}") from None
    if not token:
        raise UsageError(f"--token-file {token_file}: the file is empty")
    return token


def _store_target(value: str) -> str | Path:
    from .store.targets import PostgresTarget, is_postgres_url

    if not is_postgres_url(value):
        return Path(value)
    try:
        PostgresTarget.parse(value)
    except ValueError as exc:
        raise UsageError(f"--store: {exc}") from None
    return value


def _existing_store(value: str) -> str | Path:
    from .store.targets import store_exists

    if not store_exists(value):
        raise UsageError(f"no store at {value} (use --store PATH or --store postgresql://...)")
    return _store_target(value)


def _verify(args: argparse.Namespace) -> int:
    import asyncio

    from .store.targets import open_store
    from .verify import verify_store

    store_path = _existing_store(args.store)
    env = _env(args.env)

    async def check() -> int:
        store = await open_store(store_path)
        try:
            report = await verify_store(store, flow=args.flow, env=env)
        finally:
            await store.close()
        for mismatch in report.mismatches:
            sys.stdout.write(f"MISMATCH {mismatch.flow} {mismatch.key}: {mismatch.problem}\n")
        verdict = "ok" if report.ok else f"{len(report.mismatches)} mismatch(es)"
        sys.stdout.write(
            f"verified {report.instances} instance(s), {report.journal_entries} journal "
            f"entries: {verdict}\n"
        )
        return EXIT_OK if report.ok else EXIT_ERRORS

    return asyncio.run(check())


def _incidents(args: argparse.Namespace) -> int:
    import asyncio

    from .operate import list_incidents

    asyncio.run(list_incidents(_existing_store(args.store), sys.stdout, flow=args.flow))
    return EXIT_OK


def _dead_letters(args: argparse.Namespace) -> int:
    import asyncio

    from .operate import list_dead_letters

    asyncio.run(list_dead_letters(_existing_store(args.store), sys.stdout, limit=args.limit))
    return EXIT_OK


def _operator(args: argparse.Namespace) -> int:
    import asyncio

    from .operate import OperatorError, act_on_store, act_over_http

    reason = getattr(args, "reason", "")
    try:
        if args.url:
            outcome = asyncio.run(
                act_over_http(args.url, args.action, args.flow, args.key, reason=reason)
            )
        else:
            outcome = asyncio.run(
                act_on_store(
                    _existing_store(args.store), args.action, args.flow, args.key, reason=reason
                )
            )
    except OperatorError as exc:
        sys.stderr.write(f"flowd: {exc}\n")
        return EXIT_ERRORS
    except OSError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(outcome.message + "\n")
    return EXIT_OK


def _test(args: argparse.Namespace) -> int:
    from .scenario import run_scenarios

    return run_scenarios(args.scenarios, verbose=args.verbose, out=sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
