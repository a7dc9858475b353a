"""Who may use flowd's HTTP API.

On loopback with no token, everything is open (one machine, one operator).
With a token, every mutation (events, signals, retry, cancel, dead-letter
replay) needs `Authorization: Bearer <token>`; bound to any other address
flowd refuses to start without one (see `needs_token`), and reads need it too.
Callbacks are the exception: `POST /callbacks/{token}` is authorised by its
own unguessable token (an HMAC of the call id), since the caller is the
outside system that got the URL.
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web

from .ingress import Handler, error_response

OPEN_PATHS = ("/callbacks/",)
ALWAYS_OPEN = frozenset({"/healthz"})
"""Liveness stays open: load balancers and supervisors probe it without a token."""


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def needs_token(host: str) -> bool:
    """Whether listening on `host` needs a token (anything but loopback)."""
    return not is_loopback(host)


def add_access_control(app: web.Application, token: str, *, protect_reads: bool) -> None:
    """Require `Authorization: Bearer <token>` on `app`'s mutations (and reads
    too with `protect_reads`); refused requests get 401."""
    if not token:
        raise ValueError("the token must not be empty")
    expected = token.encode("utf-8")

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        mutation = request.method not in ("GET", "HEAD", "OPTIONS")
        guarded = (mutation or protect_reads) and path not in ALWAYS_OPEN
        if guarded and not path.startswith(OPEN_PATHS) and not _authorised(request, expected):
            response = error_response(
                401,
                "unauthorized",
                "send the operator token as 'Authorization: Bearer <token>'"
                " (flowd's --token-file, FLOWD_TOKEN or flowd.toml)",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="flowd"'
            return response
        return await handler(request)

    # Checked before anything else, so a refused request costs nothing more.
    app.middlewares.insert(0, check)


def _authorised(request: web.Request, expected: bytes) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected)
