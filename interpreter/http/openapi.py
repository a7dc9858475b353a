"""flowd's HTTP API described as an OpenAPI 3.1 document, served at `GET /openapi.json`.

The document is written here by hand, next to nothing else, and a test
checks it both ways against the routes the application registers: a route
added without its description (or a description left for a removed route)
fails CI. Response bodies are JSON Schema 2020-12 (OpenAPI 3.1's dialect).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .problems import PROBLEM_MEDIA_TYPE

OPENAPI_VERSION = "3.1.0"

_ANY: dict[str, Any] = {}
_STRING = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref("Problem")}},
    }


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": _STRING,
        "description": description,
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


FLOW = _path_param("flow", "the flow's name")
KEY = _path_param("key", "the instance key")
LIMIT = _query("limit", {"type": "integer", "minimum": 1}, "at most this many")
IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "a retried request with the same key is applied once",
}
ERRORS = {
    "400": _problem("the request is malformed"),
    "401": _problem("the operator token is missing or wrong"),
    "404": _problem("no such flow, instance, topic or route"),
    "503": _problem("flowd is not running (starting or draining) or its store is unavailable"),
}
OVERLOADED = {
    "429": {
        **_problem("too much is waiting: send the request again after Retry-After seconds"),
        "headers": {"Retry-After": {"schema": _INT, "description": "seconds to wait"}},
    }
}
JSON_BODY = {"content": {"application/json": {"schema": _ANY}}, "required": False}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details (`error` repeats `title` for older clients).",
        "required": ["type", "title", "status"],
        "properties": {
            "type": _STRING,
            "title": _STRING,
            "status": _INT,
            "detail": _STRING,
            "error": _STRING,
            "errors": {"type": "array"},
        },
    },
    "Instance": {
        "type": "object",
        "required": ["flow", "key", "state", "status", "data", "seq"],
        "properties": {
            "flow": _STRING,
            "key": _STRING,
            "version": {"type": ["integer", "null"]},
            "ir_hash": _STRING,
            "state": _STRING,
            "status": {"enum": ["active", "running", "completed", "incident", "cancelled"]},
            "data": _ANY,
            "seq": _INT,
            "timers": {"type": "object", "additionalProperties": _TIME},
            "deferred": _INT,
            "incident": {"type": ["object", "null"]},
        },
    },
    "HistoryItem": {
        "type": "object",
        "required": ["seq", "at", "at_ms", "kind", "summary"],
        "properties": {
            "seq": _INT,
            "at": _TIME,
            "at_ms": _INT,
            "kind": _STRING,
            "summary": _STRING,
        },
    },
    "HistoryPage": {
        "type": "object",
        "required": ["flow", "key", "journal_length", "next_after_seq", "items"],
        "properties": {
            "flow": _STRING,
            "key": _STRING,
            "journal_length": _INT,
            "replay_problem": {"type": ["string", "null"]},
            "next_after_seq": {"type": ["integer", "null"]},
            "items": {"type": "array", "items": _ref("HistoryItem")},
        },
    },
    "DeadLetter": {
        "type": "object",
        "required": ["id", "source", "reason", "payload", "at"],
        "properties": {
            "id": _INT,
            "source": _STRING,
            "topic": {"type": ["string", "null"]},
            "reason": _STRING,
            "payload": _STRING,
            "at": _TIME,
            "record_key": {
                "type": ["string", "null"],
                "description": "the key of the Kafka record it was (bytes that are not UTF-8 "
                "shown as U+FFFD)",
            },
        },
    },
    "Delivery": {
        "type": "object",
        "required": ["flow", "key", "event"],
        "properties": {"flow": _STRING, "key": _STRING, "event": _STRING},
    },
    "EventResult": {
        "type": "object",
        "required": ["status", "deliveries"],
        "properties": {
            "status": {"enum": ["accepted", "dead_lettered", "ignored"]},
            "deliveries": {"type": "array", "items": _ref("Delivery")},
            "reasons": {"type": "array", "items": _STRING},
            "duplicate": {"type": "boolean"},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": _STRING},
    },
}


def _get(summary: str, ok: dict[str, Any], *params: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {"summary": summary, "parameters": list(params), "responses": {"200": ok, **ERRORS}}
    }


def _post(
    summary: str,
    ok: dict[str, Any],
    *params: dict[str, Any],
    more: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": list(params),
            "requestBody": JSON_BODY,
            "responses": {"202": ok, **ERRORS, **(more or {})},
        }
    }


def _list(name: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["count", name],
        "properties": {"count": _INT, name: {"type": "array", "items": _ref(item)}},
    }


PATHS: dict[str, Any] = {
    "/events/{topic}": _post(
        "events on a topic: one JSON event or an array of them",
        _json(
            {
                "type": "object",
                "required": ["topic", "accepted", "dead_lettered", "ignored", "results"],
                "properties": {
                    "topic": _STRING,
                    "accepted": _INT,
                    "dead_lettered": _INT,
                    "ignored": _INT,
                    "results": {"type": "array", "items": _ref("EventResult")},
                },
            },
            "stored (each event's result says where it went)",
        ),
        _path_param("topic", "the topic flows read"),
        IDEMPOTENCY,
        more={"422": _problem("every event was dead-lettered"), **OVERLOADED},
    ),
    "/signals/{flow}/{key}/{signal}": _post(
        "a signal for one instance; the body is its payload",
        _json(_ref("Accepted"), "stored"),
        FLOW,
        KEY,
        _path_param("signal", "the signal's name"),
        IDEMPOTENCY,
        more={
            "409": _problem("the instance is finished"),
            "422": _problem("the payload breaks the signal's schema"),
            **OVERLOADED,
        },
    ),
    "/callbacks/{token}": _post(
        "completes an effect call awaiting a callback (authorised by its token)",
        _json(_ref("Accepted"), "the result was stored"),
        _path_param("token", "the callback token from the call's callback URL"),
        _query("error", _STRING, "fail the call with this reason instead"),
        more={"410": _problem("the call no longer awaits its callback")},
    ),
    "/instances/{flow}": _get(
        "a flow's instances, ordered by key",
        _json(
            {
                "type": "object",
                "required": ["flow", "count", "instances", "next_after"],
                "properties": {
                    "flow": _STRING,
                    "count": _INT,
                    "instances": {"type": "array", "items": _ref("Instance")},
                    "next_after": {"type": ["string", "null"]},
                },
            },
            "the instances",
        ),
        FLOW,
        _query("state", _STRING, "only instances in this state"),
        _query("status", _STRING, "only instances with this status"),
        LIMIT,
        _query("after", _STRING, "only keys after this one (the next page)"),
    ),
    "/instances/{flow}/{key}": _get(
        "one instance", _json(_ref("Instance"), "the instance"), FLOW, KEY
    ),
    "/instances/{flow}/{key}/history": _get(
        "an instance's timeline from its journal, a page of journal entries at a time",
        _json(_ref("HistoryPage"), "one page; next_after_seq pages on"),
        FLOW,
        KEY,
        _query("after_seq", _INT, "journal entries after this seq"),
        LIMIT,
    ),
    "/instances/{flow}/{key}/retry": _post(
        "retry an incident",
        _json(_ref("Accepted"), "the retry is queued"),
        FLOW,
        KEY,
        more={"409": _problem("the instance is not an incident")},
    ),
    "/instances/{flow}/{key}/cancel": _post(
        'cancel an instance (body: {"reason": ...}, optional)',
        _json(_ref("Accepted"), "the cancel is queued"),
        FLOW,
        KEY,
        more={"409": _problem("the instance is finished"), "422": _problem("a bad body")},
    ),
    "/incidents": _get(
        "instances waiting for an operator",
        _json(_list("incidents", "Instance"), "the incidents"),
        _query("flow", _STRING, "only this flow"),
        LIMIT,
    ),
    "/dead-letters": _get(
        "inputs that could not be accepted, oldest first",
        _json(_list("dead_letters", "DeadLetter"), "the dead letters"),
        LIMIT,
    ),
    "/dead-letters/{id}/replay": _post(
        "offer a dead-lettered event to the flows again (once per set of flow versions)",
        _json(_ref("EventResult"), "accepted or ignored"),
        {"name": "id", "in": "path", "required": True, "schema": _INT},
        more={
            "409": _problem("the letter did not come from a topic a loaded flow reads"),
            "422": _problem("the flows refused it again"),
        },
    ),
    "/emitted": _get(
        "records flows emitted: pending in the outbox, and the embedded log",
        _json(
            {
                "type": "object",
                "required": ["topics", "pending", "log", "next_after_offset"],
                "properties": {
                    "topics": {"type": "array", "items": _STRING},
                    "pending": {"type": "array"},
                    "log": {"type": "array"},
                    "next_after_offset": {"type": ["integer", "null"]},
                },
            },
            "the records",
        ),
        _query("topic", _STRING, "only this topic"),
        _query("after_offset", _INT, "log records after this offset"),
        LIMIT,
    ),
    "/healthz": _get(
        "liveness: 200 while running, 503 otherwise; on a shared store, the partitions "
        "held (`?owning=1`: 503 while none is held)",
        _json(
            {
                "type": "object",
                "required": ["status", "flows"],
                "properties": {
                    "status": _STRING,
                    "flows": {"type": "array", "items": _STRING},
                    "owns": {"type": "boolean"},
                    "partitions": {
                        "type": "object",
                        "properties": {
                            "owner": _STRING,
                            "partitions": {"type": "integer"},
                            "held": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                            },
                            "moving": {"type": "array", "items": {"type": "integer"}},
                        },
                    },
                },
            },
            "running",
        ),
    ),
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (text exposition format)",
            "responses": {
                "200": {
                    "description": "the metrics",
                    "content": {"text/plain": {"schema": _STRING}},
                },
                **ERRORS,
            },
        }
    },
    "/stats": _get(
        "counts for dashboards: instances by flow, state and status; inbox, timers, outbox,"
        " dead letters, effect calls; steps and effects running in this process",
        _json(
            {
                "type": "object",
                "required": ["instances", "inbox", "steps", "effects_running", "effects_waiting"],
                "properties": {
                    "instances": {"type": "array", "items": {"type": "object"}},
                    "inbox": _INT,
                    "inbox_ready": _INT,
                    "timers": _INT,
                    "timers_due": _INT,
                    "outbox_pending": _INT,
                    "dead_letters": _INT,
                    "effect_calls": {"type": "object", "additionalProperties": _INT},
                    "flows": {"type": "array", "items": _STRING},
                    "steps": _INT,
                    "effects_running": _INT,
                    "effects_waiting": _INT,
                },
            },
            "the counts",
        ),
    ),
    "/flows/{flow}": _get(
        "the IR a flow's new instances run",
        _json(
            {
                "type": "object",
                "required": ["flow", "version", "ir_hash", "ir"],
                "properties": {
                    "flow": _STRING,
                    "version": _INT,
                    "ir_hash": _STRING,
                    "ir": {"type": "object"},
                },
            },
            "the flow's IR",
        ),
        FLOW,
    ),
    "/openapi.json": _get("this document", _json({"type": "object"}, "OpenAPI 3.1")),
}


def document(version: str = "unknown") -> dict[str, Any]:
    """The OpenAPI document of flowd's HTTP API."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "flowd",
            "version": version,
            "description": "Flowyard's durable flow runner: input, instances, operator actions.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"operatorToken": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"operatorToken": []}],
        "paths": PATHS,
    }


def add_openapi_route(app: web.Application) -> None:
    """Serve the document at `GET /openapi.json`."""
    app.router.add_get("/openapi.json", get_openapi)


async def get_openapi(request: web.Request) -> web.StreamResponse:
    """`GET /openapi.json`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("flowyard")
    except PackageNotFoundError:
        release = "unknown"
    return web.json_response(document(release))
