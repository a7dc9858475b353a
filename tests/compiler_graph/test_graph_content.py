"""What the drawings of order_fulfillment must show, format by format."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flowyard.compiler.graph import render_graph
from flowyard.compiler.graph_model import build_graph, format_duration

STATES = ["new", "awaiting_payment", "in_review", "paid", "shipped", "cancelled", "failed"]
FINALS = {"shipped", "cancelled", "failed"}


def all_transitions(ir: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for name, state in ir["definition"]["states"].items():
        for candidates in state["on"].values():
            found += [(name, t) for t in candidates]
        for timer in state["timers"]:
            found += [(name, t) for t in timer["candidates"]]
        found += [(name, t) for t in state["always"]]
    return found


def mermaid_edges(text: str) -> list[tuple[str, str, str]]:
    edges = []
    for line in text.splitlines():
        m = re.fullmatch(r"\s*(\S+) --> (\S+)(?: : (.*))?", line)
        if m:
            edges.append((m[1], m[2], m[3] or ""))
    return edges


def unescape_mermaid(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m[1])), text)


def test_every_state_appears_once_in_mermaid(order_ir: dict[str, Any]) -> None:
    text = render_graph(order_ir, "mermaid")
    assert text.startswith("stateDiagram-v2\n")
    for name in STATES:
        assert text.count(f'state "{name}" as s_{name}\n') == 1


def test_every_transition_has_an_edge(order_ir: dict[str, Any]) -> None:
    graph = build_graph(order_ir)
    assert [e.id for e in graph.edges] == [t["id"] for _, t in all_transitions(order_ir)]
    edges = mermaid_edges(render_graph(order_ir, "mermaid"))
    for edge in graph.edges:
        first_hop = edge.running_id if edge.long_running else f"s_{edge.target}"
        assert (f"s_{edge.source}", first_hop, edge.label()) in [
            (a, b, unescape_mermaid(label)) for a, b, label in edges
        ]


def test_initial_and_final_states_in_mermaid(order_ir: dict[str, Any]) -> None:
    text = render_graph(order_ir, "mermaid")
    assert "    [*] --> s_new\n" in text
    for name in STATES:
        is_end = f"    s_{name} --> [*]\n" in text
        is_styled = f"    class s_{name} final\n" in text
        assert is_end == is_styled == (name in FINALS)


def test_mermaid_labels_tell_kinds_apart(order_ir: dict[str, Any]) -> None:
    labels = [
        unescape_mermaid(label) for _, _, label in mermaid_edges(render_graph(order_ir, "mermaid"))
    ]
    assert "◷ after 30m" in labels
    assert "◷ after 2d" in labels
    assert "signal review [event.approved]" in labels
    assert "PaymentConfirmed [event.amount >= data.total && data.total > 1000]" in labels
    assert labels.count("⚠ catch") == 2
    assert "AddressChanged / set address = event.address (stay)" in labels


def test_mermaid_shows_long_running_effects_and_state_details(order_ir: dict[str, Any]) -> None:
    text = unescape_mermaid(render_graph(order_ir, "mermaid"))
    running = "run_t_paid_after_0_0"
    assert f'state "⚙ book_shipment" as {running}' in text
    assert f"{running} : http, 3 attempts, timeout 10s, callback ≤ 2d" in text
    assert f"s_paid --> {running} : ◷ after 1h / call book_shipment" in text
    assert f"{running} --> s_shipped\n" in text
    assert f"{running} --> s_failed : ⚠ catch" in text
    assert f"class {running} running" in text
    assert "s_awaiting_payment : defer AddressChanged" in text
    assert "s_paid : enter / call publish" in text


def dot_edges(text: str) -> list[tuple[str, str, str]]:
    return re.findall(r'^  "(\w+)" -> "(\w+)"(?: \[(.*)\])?;$', text, flags=re.MULTILINE)


def test_dot_structure_and_styles(order_ir: dict[str, Any]) -> None:
    text = render_graph(order_ir, "dot")
    assert text.startswith('digraph "order_fulfillment" {\n  graph [rankdir=LR,')
    assert text.endswith("}\n")
    for name in STATES:
        line = next(ln for ln in text.splitlines() if ln.startswith(f'  "s_{name}" ['))
        assert f"<B>{name}</B>" in line
        assert ('peripheries="2"' in line) == (name in FINALS)
    edges = dot_edges(text)
    assert ("__start__", "s_new", "") in edges
    by_label = {
        re.search(r'label="([^"]*)"', attrs)[1]: attrs  # type: ignore[index]
        for _, _, attrs in edges
        if "label=" in attrs
    }
    assert 'style="dashed"' in by_label["◷ after 30m"]
    assert 'color="#7b2cbf"' in by_label["signal review"]
    assert 'style="dotted"' in by_label["⚠ catch"]
    assert 'color="#cc0000"' in by_label["⚠ catch"]
    assert (
        'penwidth="2.5"' in by_label["OrderPlaced\\n/ set total = event.total; call reserve_stock"]
    )
    assert "penwidth" not in by_label["OrderCancelled"]
    assert ("s_paid", "s_paid") in [(a, b) for a, b, _ in edges]


def test_json_graph(order_ir: dict[str, Any]) -> None:
    doc = json.loads(render_graph(order_ir, "json"))
    assert [n["state"] for n in doc["nodes"]] == STATES
    assert {n["state"] for n in doc["nodes"] if n["final"]} == FINALS
    assert [n["state"] for n in doc["nodes"] if n["initial"]] == ["new"]
    kinds = [e["kind"] for e in doc["edges"]]
    assert kinds.count("timer") == 3
    assert kinds.count("signal") == 2
    assert kinds.count("catch") == 2
    assert kinds.count("always") == 0
    transitions = {t["id"] for _, t in all_transitions(order_ir)}
    assert {e["transition"] for e in doc["edges"]} == transitions
    placed = next(e for e in doc["edges"] if e["transition"] == "new/on/OrderPlaced/0")
    assert placed["effects"][0]["effect"] == "reserve_stock"
    assert placed["effects"][0]["attempts"] == 5
    assert placed["long_running"] is True
    assert placed["input"] == "OrderPlaced"
    assert placed["source"] == {
        "file": "order_fulfillment.flow.yaml",
        "line": 90,
        "column": 9,
        "end_line": 98,
        "end_column": 1,
    }
    catch = next(e for e in doc["edges"] if e["kind"] == "catch")
    assert (catch["from"], catch["to"], catch["source"]["line"]) == ("new", "failed", 97)
    timer = next(e for e in doc["edges"] if e["kind"] == "timer")
    assert timer["timer"] == {
        "id": "awaiting_payment/after/0",
        "kind": "after",
        "delay_ms": 1_800_000,
        "time": None,
    }
    guarded = next(e for e in doc["edges"] if e["guard"] == "event.amount >= data.total")
    assert guarded["to"] == "paid"
    stay = next(e for e in doc["edges"] if e["stay"])
    assert (stay["from"], stay["to"]) == ("paid", "paid")


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0s"), (500, "500ms"), (1800000, "30m"), (5_400_000, "1h30m"), (172_800_000, "2d")],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text
