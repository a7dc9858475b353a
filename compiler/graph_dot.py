"""Render a flow graph as a Graphviz DOT digraph.

States are rounded boxes (finals with a double border); edges are styled by kind:
events solid, signals purple, timers dashed green, `always` orange, `catch`
dotted red; long-running transitions are thick and pass through a dashed
"running" box that names the effects and how they run.
"""

from __future__ import annotations

from collections.abc import Iterable

from .graph_model import Edge, EdgeKind, FlowGraph, StateNode

INDENT = "  "
START_ID = "__start__"

_EDGE_STYLE: dict[EdgeKind | str, dict[str, str]] = {
    "event": {"color": "#333333", "fontcolor": "#333333"},
    "signal": {"color": "#7b2cbf", "fontcolor": "#7b2cbf"},
    "timer": {"style": "dashed", "color": "#1a7f37", "fontcolor": "#1a7f37"},
    "always": {"color": "#b35900", "fontcolor": "#b35900", "arrowhead": "vee"},
    "catch": {"style": "dotted", "color": "#cc0000", "fontcolor": "#cc0000", "penwidth": "1.5"},
}

_LONG_RUNNING_PENWIDTH = "2.5"


def dot_string(text: str) -> str:
    """A double-quoted DOT string; backslashes are doubled so `\\n`, `\\N`... stay literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def html_text(text: str) -> str:
    """Escape text for a DOT HTML-like label."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", " ")
    )


def render_dot(graph: FlowGraph) -> str:
    """The whole digraph, ending with a newline."""
    title = f"{graph.flow} v{graph.version}"
    if graph.description:
        title += f": {graph.description}"
    lines = [
        f"digraph {dot_string(graph.flow)} {{",
        f"{INDENT}graph [rankdir=LR, fontname=Helvetica, fontsize=12, labelloc=t, "
        f"label={dot_string(title)}, nodesep=0.35, ranksep=0.5];",
        f'{INDENT}node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
        f'color="#333333", fontname=Helvetica, fontsize=11];',
        f'{INDENT}edge [fontname=Helvetica, fontsize=10, color="#333333"];',
        "",
        f'{INDENT}{dot_string(START_ID)} [shape=circle, style=filled, fillcolor="#000000", '
        'label="", width=0.2, fixedsize=true];',
    ]
    lines += [INDENT + _state(state) for state in graph.states]
    lines += [INDENT + _running_node(edge) for edge in graph.edges if edge.long_running]
    lines.append("")
    initial = graph.state_id(graph.initial)
    lines.append(f"{INDENT}{dot_string(START_ID)} -> {dot_string(initial)};")
    for edge in graph.edges:
        lines += [INDENT + line for line in _transition(graph, edge)]
    lines.append("}")
    return "\n".join(lines) + "\n"


class _Html(str):
    """An HTML-like label body, written between `<` and `>` instead of quotes."""

    __slots__ = ()


def _attrs(pairs: Iterable[tuple[str, str]]) -> str:
    parts = [f"{k}=<{v}>" if isinstance(v, _Html) else f"{k}={dot_string(v)}" for k, v in pairs]
    return "[" + ", ".join(parts) + "]"


def _state(state: StateNode) -> str:
    rows = [f"<B>{html_text(state.name)}</B>"]
    rows += [f'<FONT POINT-SIZE="9">{html_text(detail)}</FONT>' for detail in state.details()]
    attrs: list[tuple[str, str]] = [("label", _Html("<BR/>".join(rows)))]
    if state.final:
        attrs += [("peripheries", "2"), ("fillcolor", "#f2f2f2")]
    if state.initial:
        attrs.append(("penwidth", "1.5"))
    return f"{dot_string(state.graph_id)} {_attrs(attrs)};"


def _running_node(edge: Edge) -> str:
    rows: list[str] = []
    for use in edge.effects:
        rows.append(f"<B>⚙ {html_text(use.effect)}</B>")
        rows.append(f'<FONT POINT-SIZE="9">{html_text(use.policy())}</FONT>')
    attrs = [
        ("label", _Html("<BR/>".join(rows))),
        ("style", "rounded,dashed,filled"),
        ("fillcolor", "#fff8dc"),
        ("color", "#b8860b"),
    ]
    return f"{dot_string(edge.running_id)} {_attrs(attrs)};"


def _edge_label(edge: Edge) -> str:
    lines = [edge.head()]
    if edge.actions:
        lines.append("/ " + "; ".join(edge.actions))
    if edge.stay:
        lines.append("(stay)")
    return "\n".join(lines)


def _transition(graph: FlowGraph, edge: Edge) -> list[str]:
    source = dot_string(graph.state_id(edge.source))
    target = dot_string(graph.state_id(edge.target))
    style = list(_EDGE_STYLE[edge.kind].items())
    label = [("label", _edge_label(edge))]
    lines: list[str] = []
    if edge.long_running:
        node = dot_string(edge.running_id)
        thick = [("penwidth", _LONG_RUNNING_PENWIDTH)]
        lines.append(f"{source} -> {node} {_attrs(label + style + thick)};")
        lines.append(f"{node} -> {target} {_attrs(style + thick)};")
        origin = node
    else:
        lines.append(f"{source} -> {target} {_attrs(label + style)};")
        origin = source
    if edge.catch is not None:
        catch_target = dot_string(graph.state_id(edge.catch.target))
        catch_attrs = [("label", "⚠ " + edge.catch.label()), *_EDGE_STYLE["catch"].items()]
        lines.append(f"{origin} -> {catch_target} {_attrs(catch_attrs)};")
    return lines
