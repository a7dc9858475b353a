"""Routes for operators looking into a running flowd: an instance's history,
the records flows emitted, and replaying a dead letter once its flow is fixed.

    GET  /instances/{flow}/{key}/history?after_seq=N&limit=M
    GET  /emitted?topic=T&limit=N
    POST /dead-letters/{id}/replay
    GET  /stats                             counts for dashboards (flowd top, graph)
    GET  /flows/{flow}                      the IR a flow runs now
    GET  /openapi.json                      (the API's description, see `openapi`)
"""

from __future__ import annotations

from aiohttp import web

from ..emitted import emit_topics, emitted
from ..history import MAX_PAGE, ProgramLookup, instance_history
from ..program import Program
from ..runtime import IncomingRecord, Runtime, UnknownVersionError
from ..stats import stats_json
from .ingress import RUNTIME, ClientError, json_response
from .openapi import add_openapi_route
from .problems import problem
from .routes_input import outcome_json

DEFAULT_EMITTED = 100


def add_admin_routes(app: web.Application) -> None:
    """Register the operator's history, emitted and replay routes on `app`."""
    app.router.add_get("/instances/{flow}/{key}/history", get_history)
    app.router.add_get("/emitted", get_emitted)
    app.router.add_post("/dead-letters/{id}/replay", post_replay_dead_letter)
    app.router.add_get("/stats", get_stats)
    app.router.add_get("/flows/{flow}", get_flow)
    add_openapi_route(app)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """Query parameter `name` as a whole number in [low, high] (400 otherwise)."""
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ClientError(
            400, f"bad {name}", f"{name} must be a whole number, not {text!r}"
        ) from None
    if not low <= value <= high:
        raise ClientError(400, f"bad {name}", f"{name} must be between {low} and {high}")
    return value


def program_lookup(runtime: Runtime) -> ProgramLookup:
    """The runtime's programs by IR hash (None for a version it does not know)."""

    def lookup(ir_hash: str) -> Program | None:
        try:
            return runtime.version(ir_hash).program
        except UnknownVersionError:
            return None

    return lookup


async def get_history(request: web.Request) -> web.StreamResponse:
    """`GET /instances/{flow}/{key}/history`: the instance's timeline, a page of
    journal entries at a time (`after_seq`, `limit`; `next_after_seq` pages on)."""
    runtime = request.app[RUNTIME]
    flow, key = request.match_info["flow"], request.match_info["key"]
    if flow not in runtime.flows:
        raise ClientError(404, "unknown flow", f"no flow {flow!r} is loaded")
    page = await instance_history(
        runtime.store,
        flow,
        key,
        program_lookup(runtime),
        env=runtime.env,
        after_seq=query_int(request, "after_seq", -1, -1, 2**62),
        limit=query_int(request, "limit", 100, 1, MAX_PAGE),
    )
    if page is None:
        raise ClientError(404, "unknown instance", f"no instance {flow}/{key}")
    return json_response(200, page.to_json())


async def get_emitted(request: web.Request) -> web.StreamResponse:
    """`GET /emitted?topic=T&after_offset=N&limit=M`: records flows emitted (on
    all their emit topics without `topic`); with Kafka, relayed records are in
    Kafka and only `pending` ones are here."""
    runtime = request.app[RUNTIME]
    limit = query_int(request, "limit", DEFAULT_EMITTED, 1, MAX_PAGE)
    after = query_int(request, "after_offset", -1, -1, 2**62)
    topic = request.query.get("topic")
    versions = (runtime.current_version(flow) for flow in runtime.flows)
    topics = [topic] if topic else emit_topics(v.program for v in versions if v is not None)
    return json_response(200, await emitted(runtime.store, topics, after_offset=after, limit=limit))


async def post_replay_dead_letter(request: web.Request) -> web.StreamResponse:
    """`POST /dead-letters/{id}/replay`: offer a dead-lettered event to the flows
    again (after the flow or the sender was fixed). A letter is replayed once:
    replaying it again with the same flows loaded answers as a duplicate."""
    runtime = request.app[RUNTIME]
    text = request.match_info["id"]
    if not text.isdigit():
        raise ClientError(400, "bad id", f"a dead letter's id is a whole number, not {text!r}")
    letter_id = int(text)
    letter = next((d for d in await runtime.store.dead_letters() if d.id == letter_id), None)
    if letter is None:
        raise ClientError(404, "unknown dead letter", f"no dead letter #{letter_id}")
    if letter.topic is None or letter.topic not in runtime.topics:
        raise ClientError(
            409,
            "cannot replay",
            f"dead letter #{letter_id} did not come from a topic a loaded flow reads"
            f" ({letter.topic or 'no topic'}); send it again as it should have been",
        )
    record = IncomingRecord(
        value=letter.payload.encode("utf-8"),
        source=f"replay:dead-letter:{letter_id}:{_programs_id(runtime)}",
        timestamp_ms=runtime.clock.now_ms(),
        record_key=letter.record_key_text,
        raw_key=letter.record_key,
    )
    [outcome] = await runtime.ingest_events(letter.topic, [record])
    body = {"id": letter_id, "topic": letter.topic, **outcome_json(outcome)}
    if body["status"] == "dead_lettered":
        reasons = "; ".join(body.get("reasons", []))
        del body["status"]  # the problem's status is the HTTP status
        return json_response(422, {**body, **problem(422, "replay refused", reasons)})
    return json_response(202, body)


def _programs_id(runtime: Runtime) -> str:
    """Names the loaded flow versions: a replay refused by one set of flows can be
    tried again once they change, and is taken once by each set."""
    import hashlib

    hashes = sorted(v.program.hash for f in runtime.flows if (v := runtime.current_version(f)))
    return hashlib.sha256(",".join(hashes).encode()).hexdigest()[:16]


async def get_stats(request: web.Request) -> web.StreamResponse:
    """`GET /stats`: what the store holds and what the runtime is doing, for
    dashboards (`flowd top`, `flowd graph --url`)."""
    runtime = request.app[RUNTIME]
    gauges = await runtime.store.gauges(runtime.clock.now_ms())
    return json_response(
        200,
        stats_json(gauges)
        | {
            "flows": sorted(runtime.flows),
            "steps": runtime.steps,
            "effects_running": runtime.effect_attempts_running,
            "effects_waiting": runtime.effect_calls_waiting,
        },
    )


async def get_flow(request: web.Request) -> web.StreamResponse:
    """`GET /flows/{flow}`: the IR the flow's new instances run (its current version)."""
    runtime = request.app[RUNTIME]
    flow = request.match_info["flow"]
    current = runtime.current_version(flow)
    if current is None:
        raise ClientError(404, "unknown flow", f"no flow {flow!r} is loaded")
    return json_response(
        200,
        {"flow": flow, "version": current.version, "ir_hash": current.hash, "ir": current.ir},
    )
