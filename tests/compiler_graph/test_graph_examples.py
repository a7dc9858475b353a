"""The shared examples, compiled for real, drawn in every format."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler.api import compile_file
from flowyard.compiler.graph import render_graph

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = sorted(EXAMPLE_DIR.glob("*.flow.yaml"))


def compiled(path: Path) -> dict[str, Any]:
    ir, diagnostics = compile_file(path)
    assert ir is not None, diagnostics
    return ir


def transition_ids(ir: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for state in ir["definition"]["states"].values():
        for candidates in state["on"].values():
            ids += [t["id"] for t in candidates]
        for timer in state["timers"]:
            ids += [t["id"] for t in timer["candidates"]]
        ids += [t["id"] for t in state["always"]]
    return ids


def test_all_three_examples_are_found() -> None:
    assert [p.name for p in EXAMPLES] == [
        "order_fulfillment.flow.yaml",
        "subscription.flow.yaml",
        "webhook_fanout.flow.yaml",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_drawn_completely(path: Path) -> None:
    ir = compiled(path)
    states = list(ir["definition"]["states"])
    doc = json.loads(render_graph(ir, "json"))
    assert [n["state"] for n in doc["nodes"]] == states
    assert [e["transition"] for e in doc["edges"] if e["kind"] != "catch"] == transition_ids(ir)
    assert all(e["source"] is not None for e in doc["edges"])
    mermaid = render_graph(ir, "mermaid")
    dot = render_graph(ir, "dot")
    edge_lines = [ln for ln in mermaid.splitlines() if " --> " in ln and "[*]" not in ln]
    running = sum(1 for e in doc["edges"] if e["kind"] != "catch" and e["long_running"])
    assert len(edge_lines) == len(doc["edges"]) + running
    assert len(re.findall(r"^  \"\w+\" -> ", dot, flags=re.MULTILINE)) == len(edge_lines) + 1
    for name in states:
        assert f'state "{name}" as ' in mermaid
        assert f"<B>{name}</B>" in dot


def test_order_fulfillment_compiled_matches_the_fixture(order_ir: dict[str, Any]) -> None:
    ir = compiled(EXAMPLE_DIR / "order_fulfillment.flow.yaml")
    assert ir["hash"] == order_ir["hash"]
    assert render_graph(ir, "mermaid") == render_graph(order_ir, "mermaid")
    assert render_graph(ir, "dot") == render_graph(order_ir, "dot")


def test_subscription_shows_at_timer_always_and_reentry() -> None:
    ir = compiled(EXAMPLE_DIR / "subscription.flow.yaml")
    doc = json.loads(render_graph(ir, "json"))
    at = next(e for e in doc["edges"] if e["timer"] and e["timer"]["kind"] == "at")
    assert at["trigger"] == "◷ at timestamp(data.renews_at)"
    assert (at["from"], at["to"], at["long_running"]) == ("active", "active", True)
    always = next(e for e in doc["edges"] if e["kind"] == "always")
    assert always["label"] == "always [data.failures >= 3]"
    text = render_graph(ir, "mermaid")
    assert "s_past_due : enter / set failures = data.failures + 1" in text.replace("#58;", ":")


def test_webhook_fanout_shows_for_each() -> None:
    ir = compiled(EXAMPLE_DIR / "webhook_fanout.flow.yaml")
    text = render_graph(ir, "mermaid")
    assert "call deliver for each data.subscribers" in text
    assert "for each data.subscribers (50 at a time), 8 attempts, timeout 5s" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_renders_to_svg(path: Path) -> None:
    assert "<svg" in render_graph(compiled(path), "svg")
