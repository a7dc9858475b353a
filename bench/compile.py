"""Compiler benchmark: `flowc validate` on a large flow, beside `yaml.compose` of the same file.

Generates a flow with 2,000 states and 10,000 transitions, then reports, each as the median of
several runs in this process:

- validate time / yaml.compose time with libyaml's CSafeLoader, the C loader
  (target: at most 3x, issue 17). flowc turns the garbage collector off while it
  compiles, which alone makes a compose of this file several times faster; so the
  C loader is also timed with the collector off (like for like, for information),
  and so is pyyaml's pure-Python SafeLoader, what `yaml.compose(text)` does by
  default (for information)
- `flowc validate` of the same flow in the `.flow` DSL (printed by `flowc convert`), beside
- `flowc --version` start-up / `python -c pass` start-up, both as subprocesses (target: at most 4x)

Times are this process's CPU time (`time.process_time`), not wall time: the machine is
shared, and another process's work would otherwise be counted as ours. Each measured run
validates a file this process has not seen before (the flow is generated again with
different numbers), so no cache inside flowc carries over from one run to the next.
Compare ratios from the same run only.

Run: python bench/compile.py [--states 2000] [--per-state 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from functools import partial
from pathlib import Path

import yaml

EVENTS = 20


def generate_flow(states: int, per_state: int, salt: int = 0) -> str:
    """A valid flow: a chain of states, each with `per_state` guarded transitions.

    `salt` changes the numbers in the guards, so flows with different salts share no guard.
    """
    out = io.StringIO()
    w = out.write
    w("flow: big\nversion: 1\ndescription: generated for bench/compile.py\nkey: id\n\nevents:\n")
    for e in range(EVENTS):
        w(f"  E{e}:\n    topic: t{e % 4}\n    match: {{type: e{e}}}\n    key: event.id\n")
        w("    schema:\n      type: object\n      required: [id, n]\n")
        w("      properties: {id: {type: string}, n: {type: integer}, type: {type: string}}\n")
    w("\neffects:\n  notify:\n    python: examples.shop:reserve_stock\n    timeout: 5s\n")
    w("    retry: {attempts: 3, backoff: 1s}\n\n")
    w("data:\n  count: {type: integer, default: 0}\n  last: {type: string, default: ''}\n\n")
    w("initial: s0\n\nstates:\n")
    for s in range(states):
        if s == states - 1:
            w(f"  s{s}:\n    final: true\n")
            continue
        w(f"  s{s}:\n    on:\n")
        for t in range(per_state):
            event = f"E{(s + t) % EVENTS}"
            target = f"s{min(s + 1 + t, states - 1)}"
            w(f"      {event}:\n")
            w(f"        - when: event.n > {t} && data.count < {s + 1000 + salt * states}\n")
            w("          do:\n            - set: {count: '${ data.count + event.n }'}\n")
            if t == 0:
                w("            - call: notify\n              with: {id: '${ key }'}\n")
            w(f"          goto: {target}\n")
    return out.getvalue()


def compose_file(path: Path, loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]) -> object:
    return yaml.compose(path.read_text(), Loader=loader)


def seconds(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(seconds(fn) for _ in range(runs))


def startup_seconds(argv: list[str], runs: int) -> float:
    """Wall time of a subprocess: its CPU time is not this process's to measure."""

    def wall() -> float:
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return time.perf_counter() - start

    return statistics.median(wall() for _ in range(runs))


def dsl_texts(texts: list[str]) -> list[str]:
    """The same flows in the `.flow` DSL, as `flowc convert` prints them."""
    from flowyard.dsl.dsl_printer import format_dsl
    from flowyard.dsl.load import load_yaml_text

    out = []
    for text in texts:
        flow, diagnostics = load_yaml_text(text, file="big.flow.yaml")
        if flow is None:
            raise SystemExit(f"the generated flow did not load: {diagnostics[:1]}")
        out.append(format_dsl(flow))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=2000)
    parser.add_argument("--per-state", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from flowyard.compiler.cli import main as flowc

    texts = [generate_flow(args.states, args.per_state, salt) for salt in range(args.runs + 1)]
    transitions = (args.states - 1) * args.per_state
    loaders = [("CSafeLoader", yaml.CSafeLoader), ("SafeLoader", yaml.SafeLoader)]
    baselines: dict[str, list[float]] = {}
    check: list[float] = []
    check_dsl: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"big{i}.flow.yaml" for i in range(len(texts))]
        dsl_paths = [Path(tmp) / f"big{i}.flow" for i in range(len(texts))]
        for path, dsl_path, text, dsl in zip(
            paths, dsl_paths, texts, dsl_texts(texts), strict=True
        ):
            path.write_text(text)
            dsl_path.write_text(dsl)

        def validate(path: Path) -> None:
            with redirect_stdout(io.StringIO()):
                code = flowc(["validate", str(path)])
            if code != 0:
                raise SystemExit(f"the generated flow did not validate (exit {code})")

        validate(paths[0])  # warm-up (imports, parser tables), and proof that the flow is valid
        validate(dsl_paths[0])
        for path, dsl_path in zip(paths[1:], dsl_paths[1:], strict=True):
            for name, loader in loaders:
                baselines.setdefault(name, []).append(seconds(partial(compose_file, path, loader)))
            gc.disable()
            try:
                for name, loader in loaders:
                    baselines.setdefault(f"{name}, no GC", []).append(
                        seconds(partial(compose_file, path, loader))
                    )
            finally:
                gc.enable()
            check.append(seconds(partial(validate, path)))
            check_dsl.append(seconds(partial(validate, dsl_path)))

    flowc_bin = str(Path(sys.executable).parent / "flowc")
    python_start = startup_seconds([sys.executable, "-c", "pass"], args.runs * 2)
    flowc_start = startup_seconds([flowc_bin, "--version"], args.runs * 2)

    median = statistics.median
    size = len(texts[0]) / 1e6
    validate_time = median(check)
    print(f"flow: {args.states} states, {transitions} transitions, {size:.1f} MB of YAML")
    print(f"flowc validate                         {validate_time * 1e3:9.1f} ms")
    for name, times in baselines.items():
        target = "target <= 3x" if name == "CSafeLoader" else "for information"
        print(
            f"yaml.compose ({name + ')':25} {median(times) * 1e3:9.1f} ms"
            f"   validate / this {validate_time / median(times):6.2f}x   ({target})"
        )
    dsl_time = median(check_dsl)
    print(
        f"flowc validate, the same flow as .flow   {dsl_time * 1e3:9.1f} ms"
        f"   / validate of the YAML {dsl_time / validate_time:5.2f}x   (for information)"
    )
    print(f"python -c pass                         {python_start * 1e3:9.1f} ms")
    print(
        f"flowc --version                        {flowc_start * 1e3:9.1f} ms"
        f"   / python -c pass {flowc_start / python_start:5.2f}x   (target <= 4x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
