"""A flow's picture with live counts: how many instances are in each state,
incidents marked (`flowd graph FLOW --url URL` or `--store PATH`).

The picture is flowc's (`compiler.graph`); the counts are added to it: in
Mermaid as a line under each state's name and an `incident` class, in DOT
(and SVG) as an external label and a red outline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..compiler.graph import GraphFormat, dot_to_svg, render_graph
from ..compiler.graph_model import build_graph
from .stats import StateCounts

INCIDENT_CLASS = "classDef incident stroke:#c00,stroke-width:3px,color:#c00"


def count_text(statuses: Mapping[str, int]) -> str:
    """`12 instances, 3 incidents` for one state's counts by status."""
    total = sum(statuses.values())
    text = f"{total} instance{'s' if total != 1 else ''}"
    incidents = statuses.get("incident", 0)
    if incidents:
        text += f", {incidents} incident{'s' if incidents != 1 else ''}"
    return text


def annotated_graph(ir: Mapping[str, Any], counts: StateCounts, fmt: GraphFormat) -> str:
    """The flow drawn in `fmt` (mermaid, dot or svg) with `counts` on its states."""
    graph = build_graph(ir)
    ids = {state.name: state.graph_id for state in graph.states}
    known = {state: statuses for state, statuses in counts.items() if state in ids}
    if fmt == "mermaid":
        return _mermaid(render_graph(ir, "mermaid"), ids, known)
    if fmt in ("dot", "svg"):
        dot = _dot(render_graph(ir, "dot"), ids, known)
        return dot if fmt == "dot" else dot_to_svg(dot)
    raise ValueError(f"live counts are drawn in mermaid, dot or svg, not {fmt!r}")


def _mermaid(text: str, ids: Mapping[str, str], counts: StateCounts) -> str:
    lines = [text.rstrip("\n"), "", f"    {INCIDENT_CLASS}"]
    for state, statuses in sorted(counts.items()):
        lines.append(f"    {ids[state]} : {count_text(statuses)}")
        if statuses.get("incident"):
            lines.append(f"    class {ids[state]} incident")
    return "\n".join(lines) + "\n"


def _dot(text: str, ids: Mapping[str, str], counts: StateCounts) -> str:
    body = text.rstrip().removesuffix("}").rstrip("\n")
    extra = []
    for state, statuses in sorted(counts.items()):
        attrs = f'xlabel="{count_text(statuses)}"'
        if statuses.get("incident"):
            attrs += ', color="#cc0000", penwidth="3", fontcolor="#cc0000"'
        extra.append(f'  "{ids[state]}" [{attrs}];')
    return body + "\n" + "\n".join(extra) + "\n}\n"
