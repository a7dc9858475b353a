"""A large generated `.flow.yaml` for timing the YAML path."""

from __future__ import annotations


def big_flow_yaml(states: int = 400) -> str:
    """A valid flow with `states` states, each with events, timers and actions."""
    lines = [
        "flow: big",
        "version: 1",
        "key: id",
        "events:",
    ]
    for i in range(states):
        lines += [
            f"  E{i}:",
            "    topic: t",
            f"    match: {{type: e{i}}}",
            "    key: event.id",
            "    schema:",
            "      type: object",
            "      properties: {id: {type: string}, n: {type: integer}}",
        ]
    lines += [
        "effects:",
        "  work:",
        "    python: pkg.mod:work",
        "    timeout: 5s",
        "    retry: {attempts: 3, backoff: 1s, retry_on: [timeout, 5xx, 429]}",
        "data:",
        "  n: {type: integer, default: 0}",
        "initial: s0",
        "states:",
    ]
    for i in range(states):
        nxt = (i + 1) % states
        lines += [
            f"  s{i}:",
            "    enter:",
            '      - set: {n: "${ data.n + 1 }"}',
            "    on:",
            f"      E{i}:",
            "        - when: event.n > 3 && data.n < 10",
            "          do:",
            "            - call: work",
            '              with: {id: "${ key }", label: "item ${ event.n }"}',
            f"          goto: s{nxt}",
            "          catch: {goto: s0}",
            f"        - goto: s{i}",
            "    after:",
            f"      {i + 1}m: {{goto: s0}}",
        ]
    return "\n".join(lines) + "\n"
