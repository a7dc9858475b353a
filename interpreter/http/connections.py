"""How many connections the ingress holds, and for how long.

aiohttp keeps an idle connection (one that has sent nothing, part of its
headers, or nothing since its last answer) until `keepalive_timeout`, and
accepts every connection offered; a body that stops half-way is waited for
forever. Here:

- `idle_timeout_s` is aiohttp's keep-alive timeout, which also closes a new
  connection that never completes a request's headers;
- `body_timeout_s` bounds reading a request's body (`read_body`: a 408);
- `max_connections` bounds the open connections: one more is answered 503
  and closed at once (`LimitedSite`), before any request is read, so held
  sockets cannot exhaust the process's file descriptors.

A client that hangs up mid-request is no error of flowd's: it is logged at
debug level, without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass

from aiohttp import web

from .problems import PROBLEM_MEDIA_TYPE, problem


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    """Bounds on the ingress's connections."""

    max_connections: int = 1024
    idle_timeout_s: float = 15.0
    body_timeout_s: float = 30.0


_BUSY_BODY = json.dumps(
    problem(
        503,
        "too many connections",
        "flowd holds as many connections as it may; retry in a moment",
    )
).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class _Refuse(asyncio.Protocol):
    """Answers one over the limit with a 503 and closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY)
        transport.close()


class LimitedSite(web.BaseSite):
    """`web.SockSite` with a bound on open connections."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        *,
        max_connections: int,
    ) -> None:
        super().__init__(runner)
        self._sock = sock
        self._max_connections = max_connections
        host, port = sock.getsockname()[:2]
        self._name = f"http://{host}:{port}"

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        limit = self._max_connections

        def protocol() -> asyncio.Protocol:
            if len(server.connections) >= limit:
                return _Refuse()
            return server()

        self._server = await asyncio.get_running_loop().create_server(protocol, sock=self._sock)
