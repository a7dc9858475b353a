"""`/openapi.json`: a valid OpenAPI 3.1 document, describing exactly the routes
flowd serves, and the answers of a scripted run (errors included) fit it."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from flowyard.interpreter.http.openapi import document
from flowyard.interpreter.http.routes_metrics import add_metrics_route
from flowyard.interpreter.metrics import Metrics
from http_helpers import Harness
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            routes.add((route.method.lower(), str(path)))
    return routes


def described_routes() -> set[tuple[str, str]]:
    return {
        (method, path) for path, operations in document()["paths"].items() for method in operations
    }


async def test_the_document_is_valid_openapi_3_1(h: Harness) -> None:
    status, body = await h.get("/openapi.json")
    assert status == 200
    assert body["openapi"].startswith("3.1")
    validate(body)


async def test_every_route_is_described_and_every_description_is_served(h: Harness) -> None:
    app = h.client.server.app
    assert app is not None
    served = served_routes(app) | {("get", "/metrics")}  # flowd run adds /metrics (serve.py)
    assert served == described_routes()
    frozen_app = web.Application()
    add_metrics_route(frozen_app, Metrics())
    assert served_routes(frozen_app) == {("get", "/metrics")}


def _operation(method: str, path: str) -> dict[str, Any]:
    for template, operations in document()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path.split("?", maxsplit=1)[0]) and method in operations:
            return dict(operations[method])
    raise AssertionError(f"{method} {path} is not described")


def check_answer(
    method: str, path: str, status: int, body: Any, media_type: str = "application/json"
) -> None:
    responses = _operation(method, path)["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not described"
    content = responses[str(status)]["content"]
    assert media_type in content, f"{method} {path} {status} sent {media_type}, not described"
    schema = content[media_type]["schema"]
    root = {**schema, "components": document()["components"]}
    errors = sorted(Draft202012Validator(root).iter_errors(body), key=str)
    assert not errors, f"{method} {path} {status}: {errors[0].message}"


async def test_answers_of_a_scripted_run_fit_the_document(h: Harness) -> None:
    calls: list[tuple[str, str, Any]] = [
        ("post", "/events/things", {"type": "created", "id": "t-1", "size": 2}),
        ("post", "/events/things", [{"type": "created", "id": "t-2", "size": -1}]),
        ("post", "/events/nowhere", {"x": 1}),
        ("post", "/events/things", None),
        ("post", "/signals/things/t-1/approve", {"ok": True}),
        ("post", "/signals/things/t-1/approve", {"ok": "no"}),
        ("post", "/signals/things/ghost/approve", {}),
        ("post", "/callbacks/not-a-token", None),
        ("get", "/instances/things", None),
        ("get", "/instances/things?limit=0", None),
        ("get", "/instances/things/t-1", None),
        ("get", "/instances/things/t-1/history", None),
        ("get", "/instances/things/t-1/history?after_seq=x", None),
        ("get", "/instances/nope/t-1", None),
        ("post", "/instances/things/t-1/retry", None),
        ("post", "/instances/things/t-1/cancel", {"reason": 5}),
        ("post", "/instances/things/t-1/cancel", {"reason": "done testing"}),
        ("get", "/incidents", None),
        ("get", "/dead-letters", None),
        ("post", "/dead-letters/1/replay", None),
        ("post", "/dead-letters/77/replay", None),
        ("get", "/emitted", None),
        ("get", "/healthz", None),
        ("get", "/stats", None),
        ("get", "/flows/things", None),
        ("get", "/flows/nope", None),
    ]
    for method, path, body in calls:
        if method == "get":
            response = await h.client.get(path)
        elif body is None:
            response = await h.client.post(path)
        else:
            response = await h.client.post(path, json=body)
        answer = await response.json()
        assert response.status < 500, (path, answer)
        # RFC 9457: errors are problem details, sent as such; the rest is JSON.
        expected = "application/problem+json" if response.status >= 400 else "application/json"
        assert response.content_type == expected, (method, path, response.status)
        check_answer(method, path, response.status, answer, response.content_type)
        await h.settle()
