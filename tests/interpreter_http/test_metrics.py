"""`GET /metrics`: parsed with Prometheus' own text parser, its counters agree
with the journal after a scripted run, and no label carries an instance key."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from flowyard.interpreter.http import create_app
from flowyard.interpreter.http.routes_metrics import add_metrics_route
from flowyard.interpreter.metrics import Metrics, chain, source_kind
from flowyard.interpreter.model import EventInput, Instance, StepResult
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.runtime.stepper import Transition
from flowyard.interpreter.store import SQLiteStore
from http_helpers import Effects, compile_things
from prometheus_client.parser import text_string_to_metric_families

KEYS = [f"k-{n}" for n in range(6)]


@pytest.fixture
async def metered(db_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Effects, Runtime]]:
    metrics = Metrics()
    effects = Effects()
    store = metrics.wrap_store(await SQLiteStore.open(db_path, synchronous="NORMAL"))
    runtime = Runtime(
        store,
        [compile_things()],
        effect_overrides={"check": effects.check, "confirm": effects.confirm},
        on_transition=chain(metrics.on_transition),
        on_dead_letter=chain(metrics.on_dead_letter),
    )
    metrics.watch(runtime)
    await runtime.start()
    app = create_app(runtime, on_dead_letter=metrics.on_dead_letter)
    add_metrics_route(app, metrics)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client, effects, runtime
    await client.close()
    await runtime.drain_and_stop()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        value
        for sample_labels, value in found.get(name, [])
        if all(sample_labels.get(k) == v for k, v in labels.items())
    )


async def test_counters_agree_with_the_journal(
    metered: tuple[TestClient[Any, Any], Effects, Runtime], db_path: Path
) -> None:
    client, effects, runtime = metered
    for key in KEYS:
        assert (
            await client.post("/events/things", json={"type": "created", "id": key, "size": 2})
        ).status == 202
    await runtime.wait_idle()
    effects.fail_check = True
    await client.post(f"/signals/things/{KEYS[0]}/approve", json={"ok": True})
    await runtime.wait_idle()
    effects.fail_check = False
    for key in KEYS[1:4]:
        await client.post(f"/signals/things/{key}/approve", json={"ok": True})
    await client.post(f"/signals/things/{KEYS[4]}/approve", json={"ok": False})
    await client.post("/events/things", json={"type": "created", "id": "bad", "size": -1})
    await runtime.wait_idle()

    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    found = samples(text)

    with sqlite3.connect(db_path) as conn:
        journal = conn.execute("SELECT input, trace FROM journal").fetchall()
        attempts = conn.execute(
            "SELECT outcome, COUNT(*) FROM effect_attempts WHERE outcome IS NOT NULL"
            " GROUP BY outcome"
        ).fetchall()
        instances = conn.execute(
            "SELECT state, status, COUNT(*) FROM instances GROUP BY state, status"
        ).fetchall()
        letters = conn.execute("SELECT source FROM dead_letters").fetchall()

    by_kind = Counter(json.loads(i)["kind"] for i, _ in journal)
    for kind, count in by_kind.items():
        assert total(found, "flowd_inputs_applied_total", flow="things", input=kind) == count
    assert total(found, "flowd_inputs_applied_total") == len(journal)
    lines = [line for _, t in journal for line in json.loads(t)["trace"]]
    started = sum(1 for line in lines if line.split(" ")[0] in ("transition", "catch"))
    assert total(found, "flowd_transitions_total") == started
    assert total(found, "flowd_transitions_total", from_state="new", to_state="open") == len(KEYS)
    assert total(found, "flowd_transitions_total", from_state="open", to_state="rejected") == 1
    assert total(found, "flowd_incidents_raised_total", flow="things") == 1
    for outcome, count in attempts:
        assert total(found, "flowd_effect_attempts_total", effect="check", outcome=outcome) == count
    assert total(found, "flowd_effect_attempt_duration_seconds_count", effect="check") == sum(
        n for _, n in attempts
    )
    for state, status, count in instances:
        assert total(found, "flowd_instances", state=state, status=status) == count
    assert total(found, "flowd_dead_letters_total") == len(letters)
    assert total(found, "flowd_dead_letters_stored") == len(letters)
    assert total(found, "flowd_effects_in_flight") == 0
    assert total(found, "flowd_store_write_duration_seconds_count", operation="ingest") > 0

    label_values = {v for series in found.values() for labels, _ in series for v in labels.values()}
    assert not label_values & {*KEYS, "bad"}


def test_source_kinds_are_bounded() -> None:
    assert source_kind("kafka:orders:3") == "kafka"
    assert source_kind("http:things:abc#0") == "http"
    assert source_kind(None) == "internal"
    assert source_kind("whatever-a-client-sent:x") == "other"


async def test_steps_counted_past_the_fold_bound_all_reach_the_counters() -> None:
    """Steps are tallied by their trace and read apart in batches; traces that
    name call ids are all different, so the tally is folded as it grows."""
    metrics = Metrics()
    inp = EventInput("Go", {}, {}, 0)
    steps = 2_500  # more than two folds' worth of distinct traces
    for n in range(steps):
        trace = ("transition a/on/Go/0", f"result call-{n}", "incident")
        result = StepResult(Instance("f", f"k{n}", "h", 1, "a", "incident", {}), (), trace)
        metrics.on_transition(Transition("f", f"k{n}", inp, result, "h"))
    text = (await metrics.render()).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    totals = {
        name: sum(s.value for s in families[name].samples if s.name.endswith("_total"))
        for name in ("flowd_inputs_applied", "flowd_incidents_raised")
    }
    assert totals == {"flowd_inputs_applied": steps, "flowd_incidents_raised": steps}
