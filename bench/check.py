"""`flowc check` benchmark: flows of 20, 50 and 200 states, beside `flowc validate` of each.

Each flow is a chain of wait states built like the examples: guarded candidates on
event payloads ending in an else, a counter in data with a bound its guards read,
an `after` timer per state, a deferred event per state, a signal every fifth state
and an effect call with `catch` every tenth. For each size it reports the median of
several runs of: compiling the flow (what `flowc validate` does), checking its IR
(exploration and rules), the configurations explored, the check's verdict, and the
ratio check / validate. Target: a 50-state flow checks in under 2 s.

Compare figures from the same run only: absolute times depend on the machine's load.

Run: python bench/check.py [--sizes 20,50,200] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from flowyard.compiler.api import compile_text
from flowyard.compiler.check.run import check_ir

EVENTS = 6
TARGET_STATES, TARGET_SECONDS = 50, 2.0


def generate_flow(states: int) -> str:
    """A valid flow of `states` states (the last two final)."""
    out = io.StringIO()
    w = out.write
    w("flow: chain\nversion: 1\nkey: id\n\nevents:\n")
    for e in range(EVENTS):
        w(f"  E{e}:\n    topic: t\n    match: {{type: e{e}}}\n    key: event.id\n")
        w("    schema:\n      type: object\n      required: [id, n]\n")
        w("      properties: {id: {type: string}, n: {type: integer}, type: {type: string}}\n")
    w("\nsignals:\n  nudge:\n    schema: {type: object, properties: {hard: {type: boolean}}}\n")
    w("\neffects:\n  notify:\n    python: examples.shop:reserve_stock\n    timeout: 5s\n")
    w("\ndata:\n  count: {type: integer, minimum: 0, default: 0}\n")
    w("  last: {type: integer, default: 0}\n")
    w("\ninitial: s0\n\nstates:\n")
    last = states - 2
    for s in range(last):
        nxt = f"s{s + 1}" if s + 1 < last else "done"
        event = f"E{s % EVENTS}"
        w(f"  s{s}:\n    on:\n      {event}:\n")
        w(f"        - when: event.n > {10 * (s % 7)} && data.count < 3\n")
        w("          do:\n")
        w('            - set: {last: "${ event.n }", count: "${ data.count + 1 }"}\n')
        if s % 10 == 9:
            w('            - call: notify\n              with: {n: "${ event.n }"}\n')
            w("          catch: {goto: failed}\n")
        w(f"          goto: {nxt}\n")
        w("        - do:\n            - set: {count: 0}\n")
        if s % 5 == 4:
            w("      nudge:\n        - when: event.hard == true\n          goto: failed\n")
            w("        - {}\n")
        w("    after:\n      1h: {goto: failed}\n")
        follow = f"E{(s + 1) % EVENTS}"
        if follow != event:
            w(f"    defer: [{follow}]\n")
    w("  done:\n    final: true\n  failed:\n    final: true\n")
    return out.getvalue()


def measure(states: int, runs: int) -> dict[str, float]:
    text = generate_flow(states)
    compile_text(text, file="warm-up.flow.yaml", surface="yaml")  # schemas loaded, caches warm
    validate_times, check_times = [], []
    report = None
    for _ in range(runs):
        started = time.perf_counter()
        ir, diagnostics = compile_text(text, file=f"chain{states}.flow.yaml", surface="yaml")
        validate_times.append(time.perf_counter() - started)
        assert ir is not None, diagnostics
        started = time.perf_counter()
        report = check_ir(ir, file=f"chain{states}.flow.yaml", source=text)
        check_times.append(time.perf_counter() - started)
    assert report is not None
    return {
        "validate": statistics.median(validate_times),
        "check": statistics.median(check_times),
        "configurations": report.configurations,
        "complete": report.complete,
        "findings": len(report.shown),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,50,200", help="comma-separated state counts")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for states in (int(s) for s in args.sizes.split(",")):
        m = measure(states, args.runs)
        verdict = "complete" if m["complete"] else "incomplete"
        print(
            f"{states:>4} states  flowc validate {m['validate'] * 1000:8.1f} ms"
            f"   flowc check {m['check'] * 1000:8.1f} ms"
            f"   check / validate {m['check'] / m['validate']:6.1f}x"
            f"   {m['configurations']:>7,} configurations ({verdict}, {m['findings']} findings)"
        )
        if states == TARGET_STATES:
            ok = "met" if m["check"] < TARGET_SECONDS else "NOT met"
            print(f"     target: {TARGET_STATES} states checked in < {TARGET_SECONDS:.0f} s: {ok}")


if __name__ == "__main__":
    main()
