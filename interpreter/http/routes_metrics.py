"""`GET /metrics`: flowd's Prometheus metrics (see `interpreter.metrics`)."""

from __future__ import annotations

from aiohttp import web

from ..metrics import CONTENT_TYPE, Metrics

METRICS = web.AppKey("metrics", Metrics)


def add_metrics_route(app: web.Application, metrics: Metrics) -> None:
    """Serve `metrics` at `GET /metrics` on `app`."""
    app[METRICS] = metrics
    app.router.add_get("/metrics", get_metrics)


async def get_metrics(request: web.Request) -> web.StreamResponse:
    """`GET /metrics`: the Prometheus text exposition format."""
    body = await request.app[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response
