"""Render a flow graph as a Mermaid `stateDiagram-v2` that GitHub can display.

Mermaid cannot style individual transitions in state diagrams, so kinds are told
apart by their labels (`◷ after 30m`, `signal review`, `always`, `⚠ catch`), and
long-running transitions pass through a dashed "running" state naming the effects.
"""

from __future__ import annotations

from .graph_model import Edge, FlowGraph, StateNode

INDENT = "    "

# Characters that Mermaid's state-diagram grammar, its comment syntax (`%%`), its
# entity syntax (`#...;`) or the HTML it emits would misread; each becomes an
# entity code (`#35;`), which Mermaid decodes after parsing.
_SPECIAL = frozenset('#"&;:<>[]{}%`|\\')

_CLASS_DEFS = (
    "classDef final fill:#f2f2f2,stroke:#333,stroke-width:3px",
    "classDef running fill:#fff8dc,stroke:#b8860b,stroke-width:2px,stroke-dasharray:5 3",
)


def mermaid_text(text: str) -> str:
    """Escape text for a Mermaid label: special characters become `#<code>;` entities."""
    out: list[str] = []
    for ch in text:
        if ch in "\r\n\t":
            out.append(" ")
        elif ch in _SPECIAL:
            out.append(f"#{ord(ch)};")
        else:
            out.append(ch)
    return "".join(out)


def render_mermaid(graph: FlowGraph) -> str:
    """The whole diagram, ending with a newline."""
    lines = ["stateDiagram-v2"]
    title = f"{graph.flow} v{graph.version}"
    lines.append(f"{INDENT}%% {mermaid_text(title)}, drawn by flowc graph")
    lines += [INDENT + d for d in _CLASS_DEFS]
    lines.append("")
    for state in graph.states:
        lines += _state(state)
    for edge in graph.edges:
        if edge.long_running:
            lines += _running_state(edge)
    lines.append("")
    lines.append(f"{INDENT}[*] --> {graph.state_id(graph.initial)}")
    for edge in graph.edges:
        lines += _transition(graph, edge)
    for state in graph.states:
        if state.final:
            lines.append(f"{INDENT}{state.graph_id} --> [*]")
    lines.append("")
    for state in graph.states:
        if state.final:
            lines.append(f"{INDENT}class {state.graph_id} final")
    for edge in graph.edges:
        if edge.long_running:
            lines.append(f"{INDENT}class {edge.running_id} running")
    return "\n".join(lines).rstrip("\n") + "\n"


def _state(state: StateNode) -> list[str]:
    lines = [f'{INDENT}state "{mermaid_text(state.name)}" as {state.graph_id}']
    lines += [f"{INDENT}{state.graph_id} : {mermaid_text(d)}" for d in state.details()]
    return lines


def _running_state(edge: Edge) -> list[str]:
    node = edge.running_id
    title = "⚙ " + ", ".join(use.effect for use in edge.effects)
    lines = [f'{INDENT}state "{mermaid_text(title)}" as {node}']
    if len(edge.effects) == 1:
        details = [edge.effects[0].policy()]
    else:
        details = [f"{use.effect}: {use.policy()}" for use in edge.effects]
    lines += [f"{INDENT}{node} : {mermaid_text(detail)}" for detail in details]
    return lines


def _transition(graph: FlowGraph, edge: Edge) -> list[str]:
    source = graph.state_id(edge.source)
    target = graph.state_id(edge.target)
    label = mermaid_text(edge.label())
    lines: list[str] = []
    if edge.long_running:
        node = edge.running_id
        lines.append(f"{INDENT}{source} --> {node} : {label}")
        lines.append(f"{INDENT}{node} --> {target}")
        origin = node
    else:
        lines.append(f"{INDENT}{source} --> {target} : {label}")
        origin = source
    if edge.catch is not None:
        catch_label = "⚠ " + edge.catch.label()
        catch_target = graph.state_id(edge.catch.target)
        lines.append(f"{INDENT}{origin} --> {catch_target} : {mermaid_text(catch_label)}")
    return lines
