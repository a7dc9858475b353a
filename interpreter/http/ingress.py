"""flowd's HTTP ingress: the aiohttp application around a running `Runtime`.

`create_app(runtime)` builds the application; `serve(app, host, port)` binds
it. Every error is answered as RFC 9457 problem details (`type`, `title`,
`status`, `detail`, and `error` for older clients; see `problems`), with a
4xx status for the client's mistakes and 503 while the runtime is not
running; a failing handler never takes the process down.

Routes (see docs/operations.md for the reference):

    POST /events/{topic}                      events, one or a JSON array
    POST /signals/{flow}/{key}/{signal}       a signal for one instance
    POST /callbacks/{token}                   completes an effect awaiting a callback
    GET  /instances/{flow}/{key}              one instance
    GET  /instances/{flow}?state=S&status=T   instances of a flow
    POST /instances/{flow}/{key}/retry        retry an incident
    POST /instances/{flow}/{key}/cancel       cancel an instance
    GET  /incidents                           instances that are incidents
    GET  /dead-letters                        inputs that could not be accepted
    GET  /healthz                             liveness
    GET  /instances/{flow}/{key}/history      an instance's timeline (routes_admin)
    GET  /emitted?topic=T                     records flows emitted (routes_admin)
    POST /dead-letters/{id}/replay            offer a dead letter again (routes_admin)
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from .. import jsontext
from ..runtime import Runtime, RuntimeNotRunningError, UnstorableInputError
from ..store import StoreError
from .connections import ConnectionLimits, LimitedSite
from .replies import IdempotentRequests, ReplyCache

log = logging.getLogger("flowyard.http")

DeadLetterHook = Callable[[str, str], None]
"""Told `(source, reason)` of every input the ingress dead-lettered (for live output)."""

RUNTIME = web.AppKey("runtime", Runtime)
IDEMPOTENCY = web.AppKey("idempotency", IdempotentRequests)
ON_DEAD_LETTER: web.AppKey[DeadLetterHook] = web.AppKey("on_dead_letter")
LIMITS = web.AppKey("limits", ConnectionLimits)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ClientError(Exception):
    """A request the client must change: answered with `status` and a JSON reason."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def json_response(status: int, body: Any) -> web.Response:
    """A JSON answer (UTF-8, not ASCII-escaped); an error answer holding problem
    details is sent as `application/problem+json`."""
    from .problems import media_type

    return web.json_response(
        body, status=status, dumps=_dumps, content_type=media_type(status, body)
    )


def error_response(status: int, error: str, detail: Any = None) -> web.Response:
    """The JSON shape of every error answer: RFC 9457 problem details."""
    from .problems import problem

    return json_response(status, problem(status, error, detail))


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # integers beyond 64 bits, keys that are not strings
        return json.dumps(value, ensure_ascii=False, default=str)


async def read_json(request: web.Request, *, empty: Any) -> tuple[Any, bytes]:
    """The request body parsed as JSON (`empty` for an empty body) and its raw bytes.

    Raises `ClientError` (400) for a body that is not UTF-8 JSON, (408) for a
    body not sent within the body timeout.
    """
    timeout = request.app[LIMITS].body_timeout_s
    try:
        raw = await asyncio.wait_for(request.read(), timeout)
    except TimeoutError:
        raise ClientError(
            408, "request timeout", f"the body did not arrive within {timeout:g}s"
        ) from None
    if not raw.strip():
        return empty, raw
    try:
        return jsontext.loads(raw.decode("utf-8")), raw
    except UnicodeDecodeError:
        raise ClientError(400, "malformed body", "the body is not UTF-8") from None
    except ValueError as exc:
        raise ClientError(400, "malformed JSON", str(exc)) from None


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ClientError as exc:
        response = error_response(exc.status, exc.error, exc.detail)
        if exc.status == 408:
            response.force_close()  # the rest of the body is not waited for
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason, exc.text if exc.text != exc.reason else None)
    except RuntimeNotRunningError as exc:
        return error_response(503, "not running", str(exc))
    except UnstorableInputError as exc:
        return error_response(400, "cannot be stored", str(exc))
    except ConnectionResetError:
        # The client hung up (mid-body, say): nobody is left to answer.
        log.debug("client went away during %s %s", request.method, request.path)
        return web.Response(status=400)
    except StoreError as exc:
        log.error("store error while serving %s %s: %s", request.method, request.path, exc)
        return error_response(503, "store unavailable", str(exc))
    except Exception as exc:
        log.exception("error while serving %s %s", request.method, request.path)
        return error_response(500, "internal error", f"{type(exc).__name__}: {exc}")


def create_app(
    runtime: Runtime,
    *,
    on_dead_letter: DeadLetterHook | None = None,
    reply_cache_size: int = 10_000,
    limits: ConnectionLimits | None = None,
) -> web.Application:
    """The ingress application for a started (or soon started) `runtime`.

    `on_dead_letter` is told about each input a request got dead-lettered.
    """
    from .routes_admin import add_admin_routes
    from .routes_input import add_input_routes
    from .routes_query import add_query_routes

    app = web.Application(middlewares=[_errors], client_max_size=runtime.bounds.max_body_bytes)
    app[RUNTIME] = runtime
    app[IDEMPOTENCY] = IdempotentRequests(
        runtime.store, runtime.clock.now_ms, ReplyCache(reply_cache_size)
    )
    app[ON_DEAD_LETTER] = on_dead_letter or _ignore
    app[LIMITS] = limits or ConnectionLimits()
    add_input_routes(app)
    add_query_routes(app)
    add_admin_routes(app)
    return app


def _ignore(source: str, reason: str) -> None:
    del source, reason


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `:PORT`, or `PORT`) -> (host, port); host defaults to 127.0.0.1."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"not an address: {text!r} (expected HOST:PORT)") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0 picks a free port).

    Binding before the runtime starts lets flowd announce callback URLs with
    the real port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def serve(app: web.Application, sock: socket.socket) -> web.AppRunner:
    """Start serving `app` on the bound `sock`; `await runner.cleanup()` stops it."""
    limits = app[LIMITS]
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=limits.idle_timeout_s,
        # After an answer given before the body was read (a 408, a 413), how
        # long the rest of the body is read and dropped before closing.
        lingering_time=1.0,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    site = LimitedSite(runner, sock, max_connections=limits.max_connections)
    await site.start()
    return runner
