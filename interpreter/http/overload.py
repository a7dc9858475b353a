"""Backpressure at the door: `POST /events` and signals answer 429 with
`Retry-After` while the backlog (inputs waiting in inboxes, plus effect calls
waiting for a slot) is past a bound. Nothing accepted is ever dropped: a
refused request was not accepted, and the client sends it again later."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from .ingress import Handler, error_response

Backlog = Callable[[], int]
"""How much work is waiting now; called on each guarded request, so cheap."""

GUARDED_PREFIXES = ("/events/", "/signals/")


def add_backlog_guard(
    app: web.Application, backlog: Backlog, *, bound: int, retry_after_s: int = 1
) -> None:
    """Refuse new input on `app` with 429 while `backlog()` is at least `bound`."""
    if bound < 1:
        raise ValueError("the backlog bound must be at least 1")

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path.startswith(GUARDED_PREFIXES):
            waiting = backlog()
            if waiting >= bound:
                response = error_response(
                    429,
                    "too many requests",
                    f"{waiting} inputs and effect calls are waiting (bound {bound});"
                    f" send this again in {retry_after_s}s",
                )
                response.headers["Retry-After"] = str(retry_after_s)
                return response
        return await handler(request)

    app.middlewares.append(guard)
