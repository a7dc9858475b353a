"""Golden files: the drawings of order_fulfillment are stable, byte for byte.

Regenerate after an intended change with `FLOWYARD_UPDATE_GOLDEN=1 pytest tests/compiler_graph`
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler.graph import GraphFormat, render_graph

CASES: list[tuple[GraphFormat, str]] = [
    ("mermaid", "order_fulfillment.mmd"),
    ("dot", "order_fulfillment.dot"),
    ("json", "order_fulfillment.graph.json"),
]


@pytest.mark.parametrize(("fmt", "filename"), CASES)
def test_matches_golden(
    order_ir: dict[str, Any], golden_dir: Path, fmt: GraphFormat, filename: str
) -> None:
    rendered = render_graph(order_ir, fmt)
    golden = golden_dir / filename
    if os.environ.get("FLOWYARD_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "json"])
def test_output_is_deterministic(order_ir: dict[str, Any], fmt: GraphFormat) -> None:
    assert render_graph(order_ir, fmt) == render_graph(order_ir, fmt)


def test_ignores_source_map(order_ir: dict[str, Any]) -> None:
    """Spans feed only the JSON output; the pictures do not change without them."""
    bare = {k: v for k, v in order_ir.items() if k != "source"}
    assert render_graph(bare, "mermaid") == render_graph(order_ir, "mermaid")
    assert render_graph(bare, "dot") == render_graph(order_ir, "dot")


def test_docs_show_the_current_drawing(order_ir: dict[str, Any], root: Path) -> None:
    """docs/graphs.md embeds the Mermaid drawing of order_fulfillment; keep it current."""
    docs = (root / "docs" / "graphs.md").read_text(encoding="utf-8")
    block = "```mermaid\n" + render_graph(order_ir, "mermaid") + "```\n"
    assert block in docs
