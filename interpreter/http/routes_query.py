"""Routes that look at instances and act on them as an operator: instances,
incidents, dead letters, retry, cancel, and the health check."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..expr_values import Timestamp, format_timestamp
from ..runtime import Runtime, UnknownInstanceError, UnknownVersionError
from ..store import DeadLetterRow
from .ingress import RUNTIME, ClientError, json_response, read_json

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def add_query_routes(app: web.Application) -> None:
    """Register the query and operator routes on `app`."""
    app.router.add_get("/healthz", get_health)
    app.router.add_get("/instances/{flow}", list_instances)
    app.router.add_get("/instances/{flow}/{key}", get_instance)
    app.router.add_post("/instances/{flow}/{key}/retry", post_retry)
    app.router.add_post("/instances/{flow}/{key}/cancel", post_cancel)
    app.router.add_get("/incidents", list_incidents)
    app.router.add_get("/dead-letters", list_dead_letters)


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as RFC 3339 UTC."""
    return None if ms is None else format_timestamp(Timestamp(ms))


def instance_json(runtime: Runtime, snapshot: dict[str, Any]) -> dict[str, Any]:
    """An instance as the API shows it: `flow, key, version, state, status, data`
    (`version` is the flow version of the IR the instance runs, `ir_hash` that IR)."""
    ir_hash = str(snapshot["ir_hash"])
    try:
        version: int | None = runtime.version(ir_hash).version
    except UnknownVersionError:
        version = None
    incident = snapshot.get("incident")
    return {
        "flow": snapshot["flow"],
        "key": snapshot["key"],
        "version": version,
        "ir_hash": ir_hash,
        "state": snapshot["state"],
        "status": snapshot["status"],
        "data": snapshot["data"],
        "seq": snapshot["seq"],
        "timers": {name: iso(due) for name, due in sorted(snapshot.get("timers", {}).items())},
        "deferred": len(snapshot.get("deferred") or []),
        "incident": None
        if not incident
        else {
            "reason": incident.get("reason"),
            "at": iso(incident.get("at_ms")),
            "call_id": incident.get("call_id"),
        },
    }


def _limit(request: web.Request) -> int:
    text = request.query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError:
        raise ClientError(400, "bad limit", f"limit must be a whole number, not {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise ClientError(400, "bad limit", f"limit must be between 1 and {MAX_LIMIT}")
    return value


def _known_flow(runtime: Runtime, flow: str) -> None:
    if flow not in runtime.flows:
        raise ClientError(404, "unknown flow", f"no flow {flow!r} is loaded")


async def get_health(request: web.Request) -> web.StreamResponse:
    """`GET /healthz`: 200 while the runtime runs, 503 otherwise. With a store
    shared by several flowd, which partitions this one holds (`owns`: whether
    it steps any instance now; `?owning=1` answers 503 when it does not)."""
    runtime = request.app[RUNTIME]
    running = runtime.state == "running"
    body: dict[str, Any] = {
        "status": "ok" if running else runtime.state,
        "flows": sorted(runtime.flows),
        "steps": runtime.steps,
        "effects_in_flight": runtime.effects_in_flight,
        "loop_lag": runtime.loop_lag.to_json(),
    }
    healthy = running
    partitions = runtime.partitions_status()
    if partitions is not None:
        body["owns"] = bool(partitions.held)
        body["partitions"] = partitions.to_json()
        if request.query.get("owning") in ("1", "true") and not partitions.held:
            healthy = False
            body["status"] = "owns no partition"
    return json_response(200 if healthy else 503, body)


async def get_instance(request: web.Request) -> web.StreamResponse:
    """`GET /instances/{flow}/{key}`."""
    runtime = request.app[RUNTIME]
    flow, key = request.match_info["flow"], request.match_info["key"]
    _known_flow(runtime, flow)
    instance = await runtime.get_instance(flow, key)
    if instance is None:
        raise ClientError(404, "unknown instance", f"no instance {flow}/{key}")
    return json_response(200, instance_json(runtime, instance.to_json()))


async def list_instances(request: web.Request) -> web.StreamResponse:
    """`GET /instances/{flow}?state=S&status=T&limit=N&after=KEY`, ordered by key;
    `next_after` pages on."""
    runtime = request.app[RUNTIME]
    flow = request.match_info["flow"]
    _known_flow(runtime, flow)
    limit = _limit(request)
    rows = await runtime.store.instances(
        flow,
        state=request.query.get("state"),
        status=request.query.get("status"),
        limit=limit,
        after_key=request.query.get("after"),
    )
    items = [instance_json(runtime, row.snapshot) for row in rows]
    # A full page may have more after it: `after` pages on from its last key.
    next_after = rows[-1].key if len(rows) == limit else None
    return json_response(
        200, {"flow": flow, "count": len(items), "instances": items, "next_after": next_after}
    )


async def list_incidents(request: web.Request) -> web.StreamResponse:
    """`GET /incidents?flow=F`: instances waiting for an operator."""
    runtime = request.app[RUNTIME]
    rows = await runtime.store.instances(
        request.query.get("flow"), status="incident", limit=_limit(request)
    )
    items = [instance_json(runtime, row.snapshot) for row in rows]
    return json_response(200, {"count": len(items), "incidents": items})


def dead_letter_json(row: DeadLetterRow) -> dict[str, Any]:
    """A stored dead letter as the API shows it."""
    return {
        "id": row.id,
        "source": row.source,
        "topic": row.topic,
        "reason": row.reason,
        "payload": row.payload,
        "at": iso(row.at_ms),
        "record_key": row.record_key_text,
    }


async def list_dead_letters(request: web.Request) -> web.StreamResponse:
    """`GET /dead-letters?limit=N`: the oldest N dead letters."""
    runtime = request.app[RUNTIME]
    rows = await runtime.store.dead_letters(limit=_limit(request))
    items = [dead_letter_json(row) for row in rows]
    return json_response(200, {"count": len(items), "dead_letters": items})


async def post_retry(request: web.Request) -> web.StreamResponse:
    """`POST /instances/{flow}/{key}/retry`: retry an incident (409 if it is none)."""
    runtime = request.app[RUNTIME]
    flow, key = request.match_info["flow"], request.match_info["key"]
    _known_flow(runtime, flow)
    instance = await runtime.get_instance(flow, key)
    if instance is None:
        raise ClientError(404, "unknown instance", f"no instance {flow}/{key}")
    if instance.status != "incident":
        raise ClientError(409, "not an incident", f"{flow}/{key} is {instance.status}")
    try:
        await runtime.retry_incident(flow, key)
    except UnknownInstanceError as exc:
        raise ClientError(404, "unknown instance", str(exc)) from None
    return json_response(202, {"status": "retry requested", "flow": flow, "key": key})


async def post_cancel(request: web.Request) -> web.StreamResponse:
    """`POST /instances/{flow}/{key}/cancel` with optional `{"reason": ...}`."""
    runtime = request.app[RUNTIME]
    flow, key = request.match_info["flow"], request.match_info["key"]
    _known_flow(runtime, flow)
    body, _ = await read_json(request, empty={})
    if not isinstance(body, dict):
        raise ClientError(422, "bad body", 'send a JSON object, e.g. {"reason": "duplicate order"}')
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise ClientError(422, "bad reason", "reason must be a string")
    instance = await runtime.get_instance(flow, key)
    if instance is None:
        raise ClientError(404, "unknown instance", f"no instance {flow}/{key}")
    if instance.status in ("completed", "cancelled"):
        raise ClientError(409, "instance finished", f"{flow}/{key} is {instance.status}")
    try:
        await runtime.cancel(flow, key, reason or "cancelled by an operator over HTTP")
    except UnknownInstanceError as exc:
        raise ClientError(404, "unknown instance", str(exc)) from None
    return json_response(202, {"status": "cancel requested", "flow": flow, "key": key})
