"""Render a flow graph as machine-readable JSON: `{nodes: [...], edges: [...]}`.

Nodes are the flow's states; edges are its transitions (kind `event`, `signal`,
`timer` or `always`) and their `catch` branches (kind `catch`). The "running"
boxes of the drawings are not nodes here: an edge says `long_running` instead.
"""

from __future__ import annotations

import json
from typing import Any

from .graph_model import CatchBranch, Edge, EffectUse, FlowGraph, SourceSpan, StateNode, TimerInfo


def render_json(graph: FlowGraph) -> str:
    """Pretty-printed JSON, keys in a fixed order, ending with a newline."""
    document: dict[str, Any] = {
        "flow": graph.flow,
        "version": graph.version,
        "description": graph.description,
        "initial": graph.initial,
        "nodes": [_node(state) for state in graph.states],
        "edges": [item for edge in graph.edges for item in _edges(edge)],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _node(state: StateNode) -> dict[str, Any]:
    return {
        "id": state.graph_id,
        "state": state.name,
        "label": state.name,
        "initial": state.initial,
        "final": state.final,
        "enter": list(state.enter),
        "exit": list(state.exit),
        "defer": list(state.defer),
        "source": _span(state.span),
    }


def _edges(edge: Edge) -> list[dict[str, Any]]:
    main = {
        "id": edge.graph_id,
        "transition": edge.id,
        "kind": edge.kind,
        "from": edge.source,
        "to": edge.target,
        "stay": edge.stay,
        "trigger": edge.trigger,
        "input": edge.input,
        "timer": _timer(edge.timer),
        "guard": edge.guard,
        "actions": list(edge.actions),
        "effects": [_effect(use) for use in edge.effects],
        "long_running": edge.long_running,
        "label": edge.label(),
        "source": _span(edge.span),
    }
    if edge.catch is None:
        return [main]
    return [main, _catch(edge, edge.catch)]


def _catch(edge: Edge, catch: CatchBranch) -> dict[str, Any]:
    return {
        "id": edge.graph_id + "_catch",
        "transition": edge.id,
        "kind": "catch",
        "from": edge.source,
        "to": catch.target,
        "stay": catch.stay,
        "trigger": None,
        "input": None,
        "timer": None,
        "guard": None,
        "actions": list(catch.actions),
        "effects": [_effect(use) for use in catch.effects],
        "long_running": bool(catch.effects),
        "label": catch.label(),
        "source": _span(catch.span),
    }


def _timer(timer: TimerInfo | None) -> dict[str, Any] | None:
    if timer is None:
        return None
    return {"id": timer.id, "kind": timer.kind, "delay_ms": timer.delay_ms, "time": timer.time}


def _effect(use: EffectUse) -> dict[str, Any]:
    return {
        "action": use.action_id,
        "effect": use.effect,
        "kind": use.kind,
        "result": use.result,
        "for_each": use.for_each,
        "concurrency": use.concurrency,
        "attempts": use.attempts,
        "timeout_ms": use.timeout_ms,
        "callback_timeout_ms": use.callback_timeout_ms,
    }


def _span(span: SourceSpan | None) -> dict[str, Any] | None:
    if span is None:
        return None
    return {
        "file": span.file,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }
