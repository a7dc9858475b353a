"""`flowc graph`: draw a flow from its IR as Mermaid, Graphviz DOT, SVG or JSON.

    >>> render_graph(ir, "mermaid")   # a stateDiagram-v2 for Markdown / GitHub
    >>> render_graph(ir, "svg")       # runs Graphviz's `dot`; GraphvizMissing without it

docs/graphs.md explains the visual legend.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

from .graph_dot import render_dot
from .graph_json import render_json
from .graph_mermaid import render_mermaid
from .graph_model import build_graph

GraphFormat: TypeAlias = Literal["mermaid", "dot", "svg", "json"]
GRAPH_FORMATS: tuple[GraphFormat, ...] = ("mermaid", "dot", "svg", "json")

DOT_TIMEOUT_SECONDS = 30.0

INSTALL_HINT = (
    "`flowc graph --format svg` needs Graphviz's `dot`: install it with "
    "`apt-get install graphviz` (Debian/Ubuntu), `dnf install graphviz` (Fedora), "
    "`brew install graphviz` (macOS) or `choco install graphviz` (Windows), "
    "see https://graphviz.org/download/; or use --format mermaid / dot"
)


class GraphvizMissing(Exception):  # noqa: N818 (the name is the public API agreed with cli.py)
    """Graphviz's `dot` is not on PATH, so SVG cannot be produced."""

    def __init__(self, message: str = INSTALL_HINT) -> None:
        super().__init__(message)


class GraphvizError(Exception):
    """`dot` ran but did not produce SVG (it failed or timed out)."""


def render_graph(ir: Mapping[str, Any], fmt: GraphFormat) -> str:
    """Draw the flow described by `ir` (docs/ir.md) in the format `fmt`.

    `svg` returns SVG text made by Graphviz's `dot`, and raises GraphvizMissing
    when `dot` is not on PATH, GraphvizError when it fails.
    """
    graph = build_graph(ir)
    if fmt == "mermaid":
        return render_mermaid(graph)
    if fmt == "dot":
        return render_dot(graph)
    if fmt == "json":
        return render_json(graph)
    if fmt == "svg":
        return dot_to_svg(render_dot(graph))
    raise ValueError(f"unknown graph format {fmt!r}; choose one of {', '.join(GRAPH_FORMATS)}")


def dot_to_svg(dot_source: str, *, timeout: float = DOT_TIMEOUT_SECONDS) -> str:
    """Run `dot -Tsvg` on DOT source and return the SVG text."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing()
    try:
        completed = subprocess.run(
            [dot, "-Tsvg"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GraphvizError(f"`dot -Tsvg` did not finish within {timeout:g}s") from exc
    except OSError as exc:
        raise GraphvizError(f"could not run {dot}: {exc}") from exc
    if completed.returncode != 0:
        detail = completed.stderr.decode("utf-8", errors="replace").strip()
        raise GraphvizError(f"`dot -Tsvg` failed with exit status {completed.returncode}: {detail}")
    return completed.stdout.decode("utf-8")
