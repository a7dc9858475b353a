"""A timing sanity check for the YAML path (printed with `-s`, never asserted)."""

from __future__ import annotations

import time
from collections.abc import Callable

import yaml
from flowyard.dsl.load import load_yaml_text


def _big_flow(states: int) -> str:
    lines = ["flow: big", "version: 1", "key: id", "events:"]
    for e in range(20):
        lines += [
            f"  E{e}:",
            "    topic: t",
            f"    match: {{type: e{e}}}",
            "    key: event.id",
            "    schema: {type: object, properties: {id: {type: string}, n: {type: integer}}}",
        ]
    lines += [
        "effects:",
        "  work: {python: 'pkg.mod:work', timeout: 5s, retry: {attempts: 3, retry_on: [429]}}",
        "data:",
        "  n: {type: integer, default: 0}",
        "initial: s0",
        "states:",
    ]
    for s in range(states):
        lines += [
            f"  s{s}:",
            "    on:",
            f"      E{s % 20}:",
            f"        - when: event.n > {s} && data.n < 10",
            "          do:",
            "            - set: {n: '${ data.n + event.n }'}",
            "            - call: work",
            "              with: {id: '${ key }', label: 'item ${ event.n }'}",
            f"          goto: s{(s + 1) % states}",
            "          catch: {goto: s0}",
            f"        - goto: s{s}",
            "    after:",
            f"      {s + 1}m: {{goto: s0}}",
        ]
    return "\n".join(lines) + "\n"


def _best(fn: Callable[[], object], runs: int = 2) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_loading_a_big_flow_beside_yaml_compose() -> None:
    text = _big_flow(300)
    flow, diagnostics = load_yaml_text(text, file="big.flow.yaml")
    assert diagnostics == []
    assert flow is not None
    assert len(flow.states) == 300
    compose = _best(lambda: yaml.compose(text, Loader=yaml.SafeLoader))
    load = _best(lambda: load_yaml_text(text, file="big.flow.yaml"))
    print(
        f"\n{len(text) / 1e3:.0f} kB: yaml.compose {compose * 1e3:.0f} ms, "
        f"load_yaml_text {load * 1e3:.0f} ms ({load / compose:.2f}x)"
    )
