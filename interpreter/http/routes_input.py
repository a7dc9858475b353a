"""Routes that bring input in: events, signals and callbacks.

Each answers only once its input is durable in the store. An `Idempotency-Key`
header turns into the inputs' source ids (`http:<topic>:<key>#<n>` for events,
the signal id for signals; parts escaped by `sourceids.source_id`), so the
store accepts a retried request once; `replies` binds the key to its request
and hands a retry the first answer.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..runtime import (
    CallbackClosedError,
    IncomingRecord,
    IngestOutcome,
    UnknownVersionError,
    signal_source,
)
from ..sourceids import source_id
from .ingress import IDEMPOTENCY, ON_DEAD_LETTER, RUNTIME, ClientError, json_response, read_json
from .problems import problem
from .replies import HeldKey, KeyReuseError, Reply, fingerprint

IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER_PREFIX = "X-Event-Header-"
"""Request headers `X-Event-Header-<name>: v` become event header `<name>` (lower case)."""

_NO_BODY = object()


def add_input_routes(app: web.Application) -> None:
    """Register the input routes on `app`."""
    app.router.add_post("/events/{topic}", post_events)
    app.router.add_post("/signals/{flow}/{key}/{signal}", post_signal)
    app.router.add_post("/callbacks/{token}", post_callback)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 255:
        raise ClientError(400, "bad Idempotency-Key", "use 1 to 255 characters")
    return key


def _reused(key: str) -> ClientError:
    return ClientError(
        422,
        "Idempotency-Key reused",
        f"the key {key!r} was used for a different request; use a new key per request",
    )


def _event_headers(request: web.Request) -> dict[str, str]:
    prefix = EVENT_HEADER_PREFIX.lower()
    return {
        name[len(prefix) :].lower(): value
        for name, value in request.headers.items()
        if name.lower().startswith(prefix) and len(name) > len(prefix)
    }


def outcome_json(outcome: IngestOutcome) -> dict[str, Any]:
    """One event's result as the ingress reports it.

    A duplicate (the request was seen before) reports what it became the first
    time, flagged `"duplicate": true`: deliveries mean it was accepted, none
    that it was dead-lettered (only those are remembered by source).
    """
    duplicate = outcome.status == "duplicate"
    status: str = outcome.status
    reasons = outcome.reasons
    if duplicate:
        status = "accepted" if outcome.deliveries else "dead_lettered"
        if not outcome.deliveries:
            reasons = ("dead-lettered when first received",)
    body: dict[str, Any] = {
        "status": status,
        "deliveries": [
            {"flow": d.flow, "key": d.key, "event": d.event} for d in outcome.deliveries
        ],
    }
    if reasons:
        body["reasons"] = list(reasons)
    if duplicate:
        body["duplicate"] = True
    return body


async def post_events(request: web.Request) -> web.StreamResponse:
    """`POST /events/{topic}`: one JSON event, or a JSON array of events."""
    topic = request.match_info["topic"]
    key = _idempotency_key(request)
    headers = _event_headers(request)
    body, raw = await read_json(request, empty=_NO_BODY)
    # Only a request with an Idempotency-Key is remembered, so only it needs a fingerprint.
    request_fingerprint = (
        ""
        if key is None
        else fingerprint("events", topic, raw, json.dumps(headers, sort_keys=True))
    )
    try:
        async with request.app[IDEMPOTENCY].hold(key, request_fingerprint) as held:
            reply = held.reply or await _take_events(request, held, topic, key, headers, body)
    except KeyReuseError:
        raise _reused(str(key)) from None
    return json_response(reply.status, reply.body)


async def _take_events(  # noqa: PLR0917 - one request's parts
    request: web.Request,
    held: HeldKey,
    topic: str,
    key: str | None,
    headers: dict[str, str],
    body: Any,
) -> Reply:
    runtime = request.app[RUNTIME]
    if body is _NO_BODY:
        raise ClientError(400, "empty body", "send one JSON event or a JSON array of events")
    events = body if isinstance(body, list) else [body]
    if not events:
        raise ClientError(400, "empty array", "send at least one event")
    most = runtime.bounds.max_events_per_request
    if len(events) > most:
        raise ClientError(
            413,
            "too many events",
            f"{len(events):,} events in one request; send at most {most:,} "
            "(flowd run --max-events-per-request)",
        )
    if topic not in runtime.topics:
        known = ", ".join(sorted(runtime.topics)) or "none"
        raise ClientError(404, "unknown topic", f"no flow reads topic {topic!r} (topics: {known})")
    await held.claim()
    now = runtime.clock.now_ms()
    records = [
        IncomingRecord(
            value=event,
            headers=headers,
            source=None if key is None else f"{source_id('http', topic, key)}#{index}",
            timestamp_ms=now,
            origin="http",
        )
        for index, event in enumerate(events)
    ]
    outcomes = await runtime.ingest_events(topic, records)
    hook = request.app[ON_DEAD_LETTER]
    results: list[dict[str, Any]] = []
    counts = {"accepted": 0, "dead_lettered": 0, "ignored": 0}
    for record, outcome in zip(records, outcomes, strict=True):
        result = outcome_json(outcome)
        results.append(result)
        counts[result["status"]] += 1
        for reason in outcome.reasons:
            hook(record.dead_letter_source(topic), reason)
    rejected = counts["dead_lettered"] == len(results)
    reply_body: dict[str, Any] = {"topic": topic, **counts, "results": results}
    if rejected:
        reasons = [reason for r in results for reason in r.get("reasons", [])]
        reply_body = {
            **problem(422, "events rejected (dead-lettered)", "; ".join(reasons)),
            **reply_body,
        }
    return held.remember(Reply(422 if rejected else 202, reply_body))


async def post_signal(request: web.Request) -> web.StreamResponse:
    """`POST /signals/{flow}/{key}/{signal}`: the body is the signal's payload
    (an empty body is `{}`)."""
    flow = request.match_info["flow"]
    instance_key = request.match_info["key"]
    name = request.match_info["signal"]
    key = _idempotency_key(request)
    payload, raw = await read_json(request, empty={})
    request_fingerprint = (
        "" if key is None else fingerprint("signal", flow, instance_key, name, raw)
    )
    try:
        async with request.app[IDEMPOTENCY].hold(key, request_fingerprint) as held:
            reply = held.reply or await _take_signal(request, held, payload)
    except KeyReuseError:
        raise _reused(str(key)) from None
    return json_response(reply.status, reply.body)


async def _take_signal(request: web.Request, held: HeldKey, payload: Any) -> Reply:
    runtime = request.app[RUNTIME]
    flow = request.match_info["flow"]
    instance_key = request.match_info["key"]
    name = request.match_info["signal"]
    key = _idempotency_key(request)
    if flow not in runtime.flows:
        raise ClientError(404, "unknown flow", f"no flow {flow!r} is loaded")
    instance = await runtime.get_instance(flow, instance_key)
    # The instance may be about to be created by an input already in its
    # inbox. A step consumes that input and creates the instance in one
    # transaction, so an empty inbox means the instance exists now or never.
    if instance is None and not await runtime.store.inbox_for(flow, instance_key, limit=1):
        instance = await runtime.get_instance(flow, instance_key)
        if instance is None:
            raise ClientError(404, "unknown instance", f"no instance {flow}/{instance_key}")
    if instance is None:
        current = runtime.current_version(flow)
        if current is None:
            raise ClientError(404, "unknown flow", f"no flow {flow!r} is loaded")
        program = current.program
    else:
        if instance.status in ("completed", "cancelled"):
            raise ClientError(
                409, "instance finished", f"{flow}/{instance_key} is {instance.status}"
            )
        try:
            program = runtime.version(instance.ir_hash).program
        except UnknownVersionError as exc:
            raise ClientError(409, "unknown version", str(exc)) from None
    if name not in program.signals:
        known = ", ".join(sorted(program.signals)) or "none"
        raise ClientError(404, "unknown signal", f"flow {flow!r} has no signal {name!r} ({known})")
    # A payload failing the schema is dead-lettered by the runtime, with the reason.
    await held.claim()
    outcome = await runtime.signal(flow, instance_key, name, payload, signal_id=key)
    if outcome.status == "dead_lettered":
        for reason in outcome.reasons:
            request.app[ON_DEAD_LETTER](signal_source(flow, instance_key, key), reason)
        violations = program.validate_signal(name, payload)
        if violations:
            raise ClientError(422, "schema violation", violations)
        reply = Reply(422, problem(422, "signal rejected", "; ".join(outcome.reasons)))
    else:
        body: dict[str, Any] = {
            "status": "accepted",
            "flow": flow,
            "key": instance_key,
            "signal": name,
        }
        if outcome.status == "duplicate":
            body["duplicate"] = True
        reply = Reply(202, body)
    return held.remember(reply)


async def post_callback(request: web.Request) -> web.StreamResponse:
    """`POST /callbacks/{token}`: the body (JSON, empty is null) is the call's
    result; `?error=REASON` fails the call instead."""
    runtime = request.app[RUNTIME]
    token = request.match_info["token"]
    payload, raw = await read_json(request, empty=None)
    most = runtime.bounds.max_result_bytes
    if len(raw) > most:
        raise ClientError(
            413,
            "body too large",
            f"a callback's body is {len(raw):,} bytes, more than {most:,} "
            "(flowd run --max-result-bytes)",
        )
    error = request.query.get("error")
    try:
        resolved = await runtime.resolve_callback(token, payload, ok=error is None, error=error)
    except CallbackClosedError as exc:
        raise ClientError(410, "callback closed", f"{exc}; the result was not applied") from None
    if not resolved:
        raise ClientError(404, "unknown callback", "no effect call awaits this token")
    return json_response(202, {"status": "failed" if error is not None else "resolved"})
