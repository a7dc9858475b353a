"""Breadth-first search over abstract configurations, within a budget.

Breadth first, so the first path to a configuration is a shortest one and every
trace built from the parent links is a shortest counterexample. The search stops
at `budget` configurations with `complete=False`: the rules that need the whole
graph (liveness, reachability) then say nothing, and the verdict is "incomplete".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .model import Model
from .semantics import Config, Raw, Step, Witness, initial, successors

DEFAULT_BUDGET = 20_000


@dataclass(slots=True)
class Node:
    config: Config
    witness: Witness
    parent: int | None
    step: Step | None
    exact: bool


@dataclass(frozen=True, slots=True)
class Sighting:
    """The first (so shortest) time a rule's raw observation was made: node, then step."""

    raw: Raw
    node: int
    step: Step


@dataclass(slots=True)
class Graph:
    nodes: list[Node] = field(default_factory=list)
    index: dict[Config, int] = field(default_factory=dict)
    edges: list[list[tuple[int, Step]]] = field(default_factory=list)
    sightings: dict[tuple[str, tuple[object, ...]], Sighting] = field(default_factory=dict)
    taken: dict[str, tuple[int, Step, int]] = field(default_factory=dict)
    complete: bool = True

    def trace(self, node: int) -> list[tuple[Step, Node]]:
        """The steps from the start to `node`, each with the node it leads to."""
        out: list[tuple[Step, Node]] = []
        current: int | None = node
        while current is not None:
            n = self.nodes[current]
            if n.step is not None:
                out.append((n.step, n))
            current = n.parent
        out.reverse()
        return out


def explore(model: Model, budget: int = DEFAULT_BUDGET) -> Graph:
    graph = Graph()
    config, witness = initial(model)
    graph.nodes.append(Node(config, witness, None, None, True))
    graph.index[config] = 0
    graph.edges.append([])
    queue = deque([0])
    ignored: set[tuple[str, str]] = set()
    while queue:
        current = queue.popleft()
        node = graph.nodes[current]
        for step, config, witness, raws in successors(model, node.config, node.witness, ignored):
            for raw in raws:
                graph.sightings.setdefault((raw.rule, raw.key), Sighting(raw, current, step))
                if raw.rule == "unhandled-event" and raw.detail == "ignored":
                    ignored.add(raw.key)
            target = graph.index.get(config)
            if target is None:
                if len(graph.nodes) >= budget:
                    graph.complete = False
                    continue
                target = len(graph.nodes)
                graph.nodes.append(Node(config, witness, current, step, node.exact and step.exact))
                graph.index[config] = target
                graph.edges.append([])
                queue.append(target)
            graph.edges[current].append((target, step))
            for transition in step.taken:
                graph.taken.setdefault(transition, (current, step, target))
    return graph


def distances_to_final(graph: Graph) -> dict[int, int]:
    """For each node that can still complete, its distance (in steps) to a completed one."""
    back: list[list[int]] = [[] for _ in graph.nodes]
    for source, edges in enumerate(graph.edges):
        for target, _ in edges:
            back[target].append(source)
    dist = {i: 0 for i, n in enumerate(graph.nodes) if n.config.status == "completed"}
    queue = deque(dist)
    while queue:
        current = queue.popleft()
        for source in back[current]:
            if source not in dist:
                dist[source] = dist[current] + 1
                queue.append(source)
    return dist
