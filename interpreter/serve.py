"""`flowd run`: a store, a runtime, the HTTP ingress, an events feed and live output.

`run(options)` returns the process exit code. Ctrl-C or SIGTERM drains: the
ingress stops taking requests, the feed stops, steps in flight commit, effect
tasks are cancelled (they are re-issued, same idempotency key, on the next
start) and the store is closed; the exit code is then 0. A second signal
during the drain exits at once (nothing acknowledged is lost: it is durable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .feed import BacklogBound, Feeder
from .live import LiveView
from .metrics import Metrics, chain
from .program import Program, ProgramError
from .runtime import Runtime, UnknownVersionError
from .runtime.clock import Clock, ScaledClock, SystemClock
from .runtime.tasks import cancel
from .storable import Bounds
from .store import SQLiteStore, Store, StoreError, Synchronous, Writer
from .store.files import left_open
from .store.ownership import StoreBusyError
from .store.targets import StoreClaim, claim_store, display, is_postgres_url, open_store
from .tuning import tune_for_serving

if TYPE_CHECKING:
    from .kafka.service import KafkaService
    from .kafka.settings import KafkaSettings
    from .store.postgres import PostgresStore

log = logging.getLogger("flowyard.flowd")

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
IDLE_POLL_S = 0.05
SHARED_INBOX_COUNT_S = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Everything `flowd run` was asked to do."""

    irs: Sequence[Mapping[str, Any]]
    store_path: str | Path
    """A SQLite file, or a `postgresql://` URL (`store.targets`)."""
    http: tuple[str, int] | None = ("127.0.0.1", 8080)
    events: Sequence[Path] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    exit_when_idle: bool = False
    clock_speed: float | None = None
    synchronous: Synchronous = "FULL"
    store_writer: Writer = "thread"
    """Where a SQLite store's writes run (`--store-writer`; the CLI's default is
    `process`)."""
    max_concurrent_keys: int = 256
    step_on_arrival: bool = True
    quiet: bool = False
    colour: bool | None = None
    bounds: Bounds = field(default_factory=Bounds)
    """Size limits on requests, effect results and instance data (`--max-...-bytes`)."""
    kafka: KafkaSettings | None = None
    """Consume the flows' topics from Kafka and produce emits and dead letters there."""
    max_effects_in_flight: int | None = 1000
    max_backlog: int | None = 10_000
    allowed_modules: Sequence[str] = ()
    """Python modules flows may call beyond the project's own (`--allow-module`)."""
    log_format: str = "text"
    """`json`: a JSON line per transition and failed effect attempt on stderr."""
    token: str | None = None
    """The operator token: needed for mutations (and reads off loopback)."""
    partitions: int | None = None
    """Store partitions of a new PostgreSQL store shared by several flowd
    (`--partitions`; an existing store keeps its count)."""

    @property
    def partitioned(self) -> bool:
        """Several flowd share the store: PostgreSQL, with Kafka deciding who
        steps which partition (docs/scaling.md)."""
        return self.kafka is not None and is_postgres_url(self.store_path)


def run(options: RunOptions) -> int:
    """Run flowd in the foreground until signalled (or idle, if asked); the exit code."""
    daemon = _Daemon(options)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        code = runner.run(daemon.main())
    if left_open():
        # The store's files became unwritable: finalizing its connections at
        # exit would write to them and end in SIGBUS (see store/files.py).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (not on Windows), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Daemon:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.clock: Clock = (
            ScaledClock(options.clock_speed) if options.clock_speed else SystemClock()
        )
        self.stop = asyncio.Event()
        self.signals = 0
        self.runtime: Runtime | None = None
        self.claim: StoreClaim | None = None
        self.metrics = Metrics()
        self.live = LiveView(
            self._program,
            now_ms=self.clock.now_ms,
            colour=options.colour,
            flow_time=bool(options.clock_speed),
        )
        self.kafka: KafkaService | None = None

    def _program(self, ir_hash: str) -> Program | None:
        if self.runtime is None:
            return None
        try:
            return self.runtime.version(ir_hash).program
        except UnknownVersionError:
            return None

    def _flow_version(self, ir_hash: str) -> int | None:
        program = self._program(ir_hash)
        return None if program is None else program.version

    def _on_signal(self) -> None:
        self.signals += 1
        if self.signals == 1:
            self.stop.set()
        else:
            self.live.warning("flowd: second signal, exiting without waiting")
            os._exit(EXIT_INTERRUPTED)

    async def main(self) -> int:
        try:
            return await self._main()
        finally:
            if self.claim is not None:
                await self.claim.release()

    async def _main(self) -> int:
        opts = self.options
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal)
        sock: socket.socket | None = None
        if opts.http is not None:
            from .http import bind_socket

            try:
                sock = bind_socket(*opts.http)
            except OSError as exc:
                self.live.warning(f"flowd: cannot listen on {opts.http[0]}:{opts.http[1]}: {exc}")
                return EXIT_USAGE
        try:
            self.claim = await claim_store(opts.store_path, shared=opts.partitioned)
        except StoreBusyError as exc:
            self.live.warning(
                f"flowd: {exc}; stop it first (one flowd per store, or several "
                "with --kafka on PostgreSQL), and send it operator commands with --url"
            )
            if sock is not None:
                sock.close()
            return EXIT_USAGE
        except (StoreError, OSError, ValueError) as exc:
            self.live.warning(f"flowd: cannot open the store: {exc}")
            if sock is not None:
                sock.close()
            return EXIT_USAGE
        try:
            store = await open_store(
                opts.store_path,
                synchronous=opts.synchronous,
                writer=opts.store_writer,
                partitioned=opts.partitioned,
                partitions=opts.partitions,
            )
        except (StoreError, OSError, ValueError) as exc:
            self.live.warning(f"flowd: cannot open the store {display(opts.store_path)}: {exc}")
            if sock is not None:
                sock.close()
            return EXIT_USAGE
        metrics = self.metrics
        metered = metrics.wrap_store(store)
        await metrics.load_inbox_depth(metered)
        sink = None
        if opts.kafka is not None:
            from .kafka.service import KafkaService, KafkaUnreachableError

            self.kafka = KafkaService(
                replace(opts.kafka, max_backlog=opts.max_backlog),
                tell=self.live.info,
                on_dead_letter=self._kafka_dead_letter,
            )
            try:
                sink = await self.kafka.open()
            except KafkaUnreachableError as exc:
                self.live.warning(f"flowd: {exc}")
                await store.close()
                if sock is not None:
                    sock.close()
                return EXIT_USAGE
        live_transition = None if opts.quiet else self.live.transition
        if opts.log_format == "json":
            from .jsonlog import JsonLog

            json_log = JsonLog(self._flow_version)
            live_transition = json_log.transition
            metrics.on_failed_attempt = json_log.attempt_failed
        base_url = "http://127.0.0.1:8080"
        if sock is not None:
            host, port = sock.getsockname()[:2]
            base_url = f"http://{_url_host(str(host))}:{port}"
        try:
            runtime = Runtime(
                metered,
                opts.irs,
                self.clock,
                opts.env,
                on_transition=chain(metrics.on_transition, live_transition),
                on_dead_letter=chain(metrics.on_dead_letter, self.live.dead_letter),
                callback_base_url=base_url,
                max_concurrent_keys=opts.max_concurrent_keys,
                step_on_arrival=opts.step_on_arrival,
                outbox_sink=sink,
                max_effects_in_flight=opts.max_effects_in_flight,
                allowed_modules=list(opts.allowed_modules),
                bounds=opts.bounds,
                # Effect timeouts and backoffs concern the outside world: real time.
                effect_clock=SystemClock() if opts.clock_speed else None,
                partitioned=cast("PostgresStore", store) if opts.partitioned else None,
            )
        except Exception as exc:
            # Nothing may stay open after a failed start (a store left open
            # would keep the process from exiting).
            self.live.warning(f"flowd: cannot start: {exc}")
            await self._close_after_failed_start(None, store, sock)
            return EXIT_USAGE
        self.runtime = runtime
        metrics.watch(runtime)
        try:
            await runtime.start()
        except Exception as exc:
            # A flow the runtime cannot load is 1; the store failing (a full or
            # read-only disk) is 2, like any I/O problem at start.
            self.live.warning(f"flowd: cannot start: {exc}")
            await self._close_after_failed_start(runtime, store, sock)
            return EXIT_ERRORS if isinstance(exc, ProgramError) else EXIT_USAGE
        tune_for_serving()
        lost = store.wait_lost if isinstance(store, SQLiteStore) else None
        return await self._serve(runtime, metered, sock, base_url, lost)

    async def _close_after_failed_start(
        self, runtime: Runtime | None, store: Store, sock: socket.socket | None
    ) -> None:
        with contextlib.suppress(Exception):
            if runtime is not None:
                await runtime.drain_and_stop()
        with contextlib.suppress(Exception):
            await store.close()
        if self.kafka is not None:
            with contextlib.suppress(Exception):
                await self.kafka.close()
        if sock is not None:
            sock.close()

    async def _serve(
        self,
        runtime: Runtime,
        store: Store,
        sock: socket.socket | None,
        base_url: str,
        writer_lost: Callable[[], Awaitable[str]] | None,
    ) -> int:
        opts = self.options
        runner = None
        if sock is not None:
            from .http import create_app, serve
            from .http.routes_metrics import add_metrics_route

            app = create_app(runtime, on_dead_letter=self.live.dead_letter)
            add_metrics_route(app, self.metrics)
            if opts.token:
                from .http.access import add_access_control, needs_token

                protect_reads = opts.http is not None and needs_token(opts.http[0])
                add_access_control(app, opts.token, protect_reads=protect_reads)
            if opts.max_backlog is not None:
                from .http.overload import add_backlog_guard

                metrics = self.metrics
                add_backlog_guard(
                    app,
                    lambda: metrics.inbox_depth + runtime.effect_calls_waiting,
                    bound=opts.max_backlog,
                )
            runner = await serve(app, sock)
        flows = ", ".join(sorted(runtime.flows)) or "no flows"
        where = f"; HTTP on {base_url}" if runner is not None else ""
        speed = f"; clock x{opts.clock_speed:g}" if opts.clock_speed else ""
        self.live.info(f"flowd: running {flows} on {display(opts.store_path)}{where}{speed}")
        work = asyncio.create_task(self._feed_then_maybe_stop(runtime, store))
        counting = (
            asyncio.create_task(self._count_shared_inbox(store)) if opts.partitioned else None
        )
        writer = (
            asyncio.create_task(self._stop_if_writer_lost(writer_lost))
            if writer_lost is not None
            else None
        )
        code = EXIT_OK
        try:
            if self.kafka is not None:
                code = await self._start_kafka(self.kafka, runtime)
            if code == EXIT_OK:
                await self.stop.wait()
            if writer is not None and writer.done():
                code = EXIT_ERRORS
        finally:
            self.live.info("flowd: draining")
            if runner is not None:
                await runner.cleanup()
            await cancel(work)
            await cancel(counting)
            await cancel(writer)
            if self.kafka is not None:
                await self.kafka.stop()
            await runtime.drain_and_stop()
            if self.kafka is not None:
                await self.kafka.close()
            self.live.info(f"flowd: stopped after {runtime.steps} steps")
            self.live.close()
        return code

    async def _stop_if_writer_lost(self, writer_lost: Callable[[], Awaitable[str]]) -> None:
        """Stop flowd (exit code 1) when the store's writer stops by itself, its
        process killed, say: nothing can be stored any more, and a supervisor
        that starts flowd again brings it back."""
        reason = await writer_lost()
        self.live.warning(f"flowd: {reason}; stopping: start flowd again to go on")
        self.stop.set()

    async def _count_shared_inbox(self, store: Store) -> None:
        """With a shared store, inputs this process stores are applied by
        others and the other way round: the inbox depth (the backlog that
        pauses consumption and answers HTTP with 429) is read from the store."""
        while True:
            await asyncio.sleep(SHARED_INBOX_COUNT_S)
            with contextlib.suppress(StoreError, OSError):
                await self.metrics.load_inbox_depth(store)

    def _kafka_dead_letter(self, source: str, reason: str) -> None:
        self.metrics.on_dead_letter(source, reason)
        self.live.dead_letter(source, reason)

    async def _start_kafka(self, kafka: KafkaService, runtime: Runtime) -> int:
        from aiokafka.errors import KafkaError

        metrics = self.metrics
        try:
            await kafka.start(
                runtime, backlog=lambda: metrics.inbox_depth + runtime.effect_calls_waiting
            )
        except (KafkaError, OSError) as exc:
            self.live.warning(f"flowd: cannot consume from Kafka: {type(exc).__name__}: {exc}")
            return EXIT_ERRORS
        return EXIT_OK

    async def _feed_then_maybe_stop(self, runtime: Runtime, store: Store) -> None:
        metrics, limit = self.metrics, self.options.max_backlog
        bound = (
            None
            if limit is None
            else BacklogBound(lambda: metrics.inbox_depth + runtime.effect_calls_waiting, limit)
        )
        try:
            for path in self.options.events:
                feeder = Feeder(runtime, path, on_dead_letter=self.live.dead_letter, backlog=bound)
                report = await feeder.run()
                self.live.info(f"flowd: fed {path}: {report.summary()}")
            if self.options.exit_when_idle:
                kafka = self.kafka
                await wait_settled(runtime, store, caught_up=kafka.caught_up if kafka else None)
                self.live.info("flowd: idle, exiting")
                self.stop.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the events feed failed")
            self.live.warning(f"flowd: the events feed failed: {type(exc).__name__}: {exc}")
            if self.options.exit_when_idle:
                self.stop.set()


async def wait_settled(
    runtime: Runtime, store: Store, *, caught_up: Callable[[], Awaitable[bool]] | None = None
) -> None:
    """Return once nothing is left to happen: the runtime is idle, no effect is
    in flight or backing off, no instance awaits a call or callback, and no
    timer or delayed input is waiting (incidents wait for an operator, so they
    do not count), and `caught_up` (Kafka's consumer: every record up to the
    high watermarks stored) says so. Checked twice in a row, a poll apart."""
    quiet = 0
    while quiet < 2:
        await runtime.wait_idle()
        busy = (
            (caught_up is not None and not await caught_up())
            or runtime.effects_in_flight > 0
            or bool(await store.instances(status="running", limit=1))
            or await store.next_timer_due() is not None
            or await store.next_not_before_ms() is not None
            or bool(await store.pending_outbox(limit=1))
        )
        quiet = 0 if busy else quiet + 1
        await asyncio.sleep(IDLE_POLL_S)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
