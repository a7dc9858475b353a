"""A stand-in for the order example's shipping carrier, on 127.0.0.1 (no services needed).

    python examples/carrier.py --port 8099 [--delay 0.5]

`POST /shipments` with `{order_id, address, callback_url}` books a shipment and
answers 201 at once; `--delay` seconds later it posts the outcome,
`{shipment_id, tracking, carrier}`, to `callback_url` (retrying a few times),
the way a real carrier confirms a booking through a webhook. A request with an
`Idempotency-Key` it has seen gets the first booking back and no second
callback. `GET /healthz` answers 200 once it is listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import sys
from typing import Any

import aiohttp
from aiohttp import web

CALLBACK_ATTEMPTS = 5

_bookings: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("bookings", dict)
_tasks: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("tasks", set)
_delay: web.AppKey[float] = web.AppKey("delay", float)


async def _call_back(url: str, body: dict[str, Any], delay: float) -> None:
    await asyncio.sleep(delay)
    async with aiohttp.ClientSession() as session:
        for attempt in range(CALLBACK_ATTEMPTS):
            try:
                async with session.post(url, json=body) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2 * 2**attempt)
    print(f"carrier: gave up calling back {url}", file=sys.stderr)


async def book(request: web.Request) -> web.Response:
    """`POST /shipments`: book, answer 201, confirm later through the callback URL."""
    try:
        order = await request.json()
    except ValueError:
        return web.json_response({"error": "malformed JSON"}, status=400)
    if not isinstance(order, dict) or not order.get("callback_url"):
        return web.json_response({"error": "order_id and callback_url are required"}, status=422)
    bookings = request.app[_bookings]
    key = request.headers.get("Idempotency-Key") or str(order.get("order_id"))
    booked = bookings.get(key)
    if booked is not None:
        return web.json_response(booked, status=201)
    digest = hashlib.sha256(key.encode()).hexdigest()
    booked = {
        "shipment_id": f"shp_{digest[:10]}",
        "order_id": order.get("order_id"),
        "address": order.get("address"),
        "status": "booked",
    }
    bookings[key] = booked
    confirmation = {
        "shipment_id": booked["shipment_id"],
        "tracking": f"TRK{int(digest[:8], 16) % 10**8:08d}",
        "carrier": "Local Carrier",
    }
    task = asyncio.create_task(
        _call_back(str(order["callback_url"]), confirmation, request.app[_delay])
    )
    request.app[_tasks].add(task)
    task.add_done_callback(request.app[_tasks].discard)
    return web.json_response(booked, status=201)


async def health(request: web.Request) -> web.Response:
    """`GET /healthz`."""
    return web.json_response({"status": "ok"})


def make_app(delay: float) -> web.Application:
    """The carrier's aiohttp application."""
    app = web.Application()
    app[_bookings] = {}
    app[_tasks] = set()
    app[_delay] = delay
    app.router.add_post("/shipments", book)
    app.router.add_get("/healthz", health)

    async def finish(app: web.Application) -> None:
        for task in list(app[_tasks]):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.on_cleanup.append(finish)
    return app


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds before the callback")
    args = parser.parse_args()
    web.run_app(make_app(args.delay), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
