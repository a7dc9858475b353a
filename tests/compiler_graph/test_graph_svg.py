"""`svg` runs Graphviz's `dot`, or says clearly how to install it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler.graph import GraphvizError, GraphvizMissing, dot_to_svg, render_graph


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_with_graphviz(order_ir: dict[str, Any]) -> None:
    svg = render_graph(order_ir, "svg")
    assert "<svg" in svg
    assert svg.rstrip().endswith("</svg>")
    for name in ("awaiting_payment", "in_review", "shipped"):
        assert f">{name}</text>" in svg


def test_svg_without_graphviz_names_the_fix(
    order_ir: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizMissing) as caught:
        render_graph(order_ir, "svg")
    message = str(caught.value)
    assert "needs Graphviz's `dot`" in message
    assert "apt-get install graphviz" in message
    assert "brew install graphviz" in message
    assert "--format mermaid" in message
    # The text formats need nothing outside Python.
    assert render_graph(order_ir, "dot").startswith("digraph")


def fake_dot(tmp_path: Path, script: str) -> None:
    dot = tmp_path / "dot"
    dot.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    dot.chmod(0o755)


def test_failing_dot_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dot(tmp_path, "echo 'syntax error in line 1' >&2; exit 1")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizError, match="exit status 1: syntax error in line 1"):
        dot_to_svg("digraph {}")


def test_slow_dot_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dot(tmp_path, "exec sleep 5")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(GraphvizError, match=r"did not finish within 0\.2s"):
        dot_to_svg("digraph {}", timeout=0.2)
