"""The checks: what the exploration saw, turned into findings with stable rule ids.

Each rule has a code (FY6xx, in the diagnostics registry), a name used to enable
and suppress it, and a severity. A finding is "must" when its trace is exact (the
witness run itself does it, so every replay of the trace does) or when it rests on
a complete exploration of an over-approximation (nothing concrete escapes it);
"may" when only the abstraction shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .explore import Graph, distances_to_final
from .model import Model, transitions_of
from .semantics import Step, model_pointer


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    enabled: bool = True


RULES: tuple[Rule, ...] = (
    Rule("FY601", "unhandled-event"),
    Rule("FY602", "no-completion"),
    Rule("FY603", "wait-without-escape"),
    Rule("FY604", "guard-gap"),
    Rule("FY605", "guard-overlap", enabled=False),
    Rule("FY606", "guard-shadowed"),
    Rule("FY607", "unreachable-transition"),
    Rule("FY608", "unreachable-state"),
    Rule("FY609", "always-loop"),
    Rule("FY610", "work-left"),
    Rule("FY611", "deferred-never-consumed"),
    Rule("FY612", "set-out-of-schema"),
)
BY_NAME = {r.name: r for r in RULES}
BY_CODE = {r.code: r for r in RULES}
ALIASES = {"unhandled": "unhandled-event", "dead-end": "no-completion", "livelock": "no-completion"}


@dataclass(frozen=True, slots=True)
class Expect:
    """What a replay checks at the end of a trace (fields of a scenario `expect`)."""

    fields: dict[str, Any]
    before_last: dict[str, Any] | None = None


@dataclass(slots=True)
class Finding:
    rule: Rule
    message: str
    pointer: str
    hint: str
    must: bool
    subjects: tuple[str, ...]
    node: int | None = None
    step: Step | None = None
    expect: Expect | None = None
    suppressed: str | None = None
    confirmed: bool | None = None
    scenario: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def find(model: Model, graph: Graph, enabled: set[str]) -> list[Finding]:
    """Every finding of the enabled rules, the shortest trace first within a rule."""
    out = [f for f in _all(model, graph) if f.rule.name in enabled]
    return out


def _all(model: Model, graph: Graph) -> Iterator[Finding]:
    states = model.definition["states"]
    reach = _static_reach(model)
    visited = {n.config.state for n in graph.nodes if n.config.status != "none"}
    visited.update(t.split("/", 1)[0] for t in graph.taken)
    if len(graph.nodes) > 1:
        visited.add(model.definition["initial"])
    for (rule, _), seen in graph.sightings.items():
        raw, node, step = seen.raw, seen.node, seen.step
        exact = raw.exact and graph.nodes[node].exact
        if rule == "unhandled-event":
            state, event = raw.key
            assert isinstance(state, str) and isinstance(event, str)
            later = [s for s in reach[state] if event in states[s]["on"]]
            if not later:
                continue
            yield Finding(
                BY_NAME[rule],
                f"{_kind(model, event)} {event} can arrive in state {state!r}, which neither "
                f"handles nor defers it: it is {raw.detail}, though {later[0]!r} handles it later",
                f"/states/{state}",
                f"add {event!r} to the 'defer' list of {state!r}, or handle it there",
                exact,
                (event, state),
                node,
                step,
                Expect({"state": state, "status": "active"}),
            )
        elif rule == "guard-gap":
            state, what = raw.key
            yield Finding(
                BY_NAME[rule],
                f"in state {state!r}, {what} can arrive when no guard of its candidates holds; "
                "it is ignored",
                raw.pointer,
                "add a last candidate without 'when' (an else), or widen the guards",
                exact,
                (str(what), str(state)),
                node,
                step,
                Expect({"state": state, "status": "active"}),
            )
        elif rule == "guard-overlap":
            first, second = raw.key
            yield Finding(
                BY_NAME[rule],
                f"the guards of {first} and {second} can both hold; the first wins",
                raw.pointer,
                "make the guards exclusive if the order is not meant to decide",
                exact,
                (str(second), str(first)),
                node,
                step,
            )
        elif rule == "always-loop":
            (state,) = raw.key
            yield Finding(
                BY_NAME[rule],
                f"'always' transitions from {state!r} can loop back to the same configuration "
                "without waiting for any input: the instance becomes an incident",
                raw.pointer,
                "make the looping 'always' guards exclusive, or wait for an input",
                exact,
                (str(state),),
                node,
                step,
                Expect({"status": "incident", "incident": "always"}),
            )
        elif rule == "work-left":
            state, names = raw.key
            yield Finding(
                BY_NAME[rule],
                f"the instance can complete in {state!r} with deferred input left ({names}); "
                "it is dropped",
                raw.pointer,
                f"handle {names} before completing, or stop deferring it where it cannot be used",
                exact,
                (str(names), str(state)),
                node,
                step,
                Expect(
                    {"state": state, "status": "completed"},
                    {"deferred": [n for n in str(names).split(", ")]},
                ),
            )
        elif rule == "set-out-of-schema":
            _, name = raw.key
            yield Finding(
                BY_NAME[rule],
                f"this 'set' can leave the schema of data.{name}: {raw.detail}; "
                "the instance becomes an incident",
                raw.pointer,
                f"check the value before assigning it, or widen the schema of {name!r}",
                exact,
                (str(name),),
                node,
                step,
                Expect({"status": "incident"}),
            )
    yield from _static(model, reach, visited, graph)
    if graph.complete:
        yield from _liveness(model, graph)
        yield from _reachability(model, graph, reach, visited)


def _kind(model: Model, name: str) -> str:
    return "signal" if name in model.definition["signals"] else "event"


def _static_reach(model: Model) -> dict[str, list[str]]:
    """For each state, the states its transitions can lead to (itself excluded), nearest first."""
    states = model.definition["states"]
    out: dict[str, list[str]] = {}
    for start in states:
        order: list[str] = []
        frontier = [start]
        seen = {start}
        while frontier:
            nxt = []
            for s in frontier:
                for t, _ in transitions_of(states[s]):
                    for target in (t["target"], (t["catch"] or {}).get("target")):
                        if target and target not in seen:
                            seen.add(target)
                            order.append(target)
                            nxt.append(target)
            frontier = nxt
        out[start] = order
    return out


def _first_node(graph: Graph, state: str) -> int | None:
    return next(
        (
            i
            for i, n in enumerate(graph.nodes)
            if n.config.state == state and n.config.status != "none"
        ),
        None,
    )


def _static(
    model: Model, reach: dict[str, list[str]], visited: set[str], graph: Graph
) -> Iterator[Finding]:
    states = model.definition["states"]
    for name, state in states.items():
        if name not in visited or state["final"]:
            continue
        exits = [
            (trigger, t)
            for trigger, candidates in state["on"].items()
            for t in candidates
            if t["target"] not in (None, name)
        ]
        if (
            not state["timers"]
            and not state["always"]
            and exits
            and all(trigger in model.definition["signals"] for trigger, _ in exits)
        ):
            signals = sorted({trigger for trigger, _ in exits})
            node = _first_node(graph, name)
            yield Finding(
                BY_NAME["wait-without-escape"],
                f"state {name!r} waits for {', '.join(signals)} with no timeout and no other way "
                "out: if the signal never comes, the instance waits forever",
                f"/states/{name}",
                f"add an 'after' timer to {name!r} (e.g. after 2d, goto a state that gives up)",
                True,
                (name, *signals),
                node,
                None,
                Expect({"state": name, "status": "active", "timers": []}),
            )
        for event in state["defer"]:
            if any(event in states[s]["on"] for s in reach[name]):
                continue
            node = _first_node(graph, name)
            yield Finding(
                BY_NAME["deferred-never-consumed"],
                f"state {name!r} defers {event}, but no state it can lead to handles {event}: "
                "every deferred one is dropped when the instance completes",
                f"/states/{name}/defer",
                f"handle {event} in a later state, or stop deferring it in {name!r}",
                True,
                (event, name),
                node,
                None,
            )


def _liveness(model: Model, graph: Graph) -> Iterator[Finding]:
    dist = distances_to_final(graph)
    reported: set[str] = set()
    for i, node in enumerate(graph.nodes):
        config = node.config
        if config.status != "active" or i in dist or config.state in reported:
            continue
        ahead = {graph.nodes[t].config.state for t in _forward(graph, i)}
        reported.update(ahead)
        moves = [t for t, _ in graph.edges[i] if t != i]
        trapped = sorted(ahead - {config.state})
        if moves:
            kind = "livelock: it can still move" + (
                f", through {', '.join(map(repr, trapped))}" if trapped else ""
            )
        else:
            kind = "dead end: nothing it can receive moves it on"
        yield Finding(
            BY_NAME["no-completion"],
            f"from this configuration of {config.state!r} no final state can be reached ({kind})",
            f"/states/{config.state}",
            "add a transition (or a timeout) that leads towards a final state",
            node.exact,
            (config.state,),
            i,
            None,
            Expect({"state": config.state, "status": "active"}),
        )


def _forward(graph: Graph, start: int) -> set[int]:
    seen = {start}
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for target, _ in graph.edges[current]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def _reachability(
    model: Model, graph: Graph, reach: dict[str, list[str]], visited: set[str]
) -> Iterator[Finding]:
    states = model.definition["states"]
    initial = model.definition["initial"]
    statically = {initial, *reach[initial]}
    held = {str(k[0]) for (rule, k) in graph.sightings if rule == "guard-held"}
    for name, state in states.items():
        if name not in visited:
            if name in statically:  # FY302 already reports states no transition leads to
                yield Finding(
                    BY_NAME["unreachable-state"],
                    f"state {name!r} is never entered: the guards and outcomes that lead to it "
                    "never hold",
                    f"/states/{name}",
                    "check the guards of the transitions into it",
                    True,
                    (name,),
                )
            continue
        for t, _ in transitions_of(state):
            if t["id"] in graph.taken:
                continue
            shadowed = t["id"] in held
            rule = "guard-shadowed" if shadowed else "unreachable-transition"
            why = (
                "its guard can hold, but an earlier candidate always wins"
                if shadowed
                else "its guard never holds when it is tried"
            )
            yield Finding(
                BY_NAME[rule],
                f"transition {t['id']} is never taken: {why}",
                model_pointer(model, t["id"]),
                "reorder or narrow the candidates, or remove this one",
                True,
                (t["id"],),
            )
