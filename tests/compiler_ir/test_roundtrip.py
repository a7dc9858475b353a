"""Generated flows survive both printers unchanged and keep their IR hash."""

from __future__ import annotations

import pytest
from flowyard.compiler.api import compile_flow
from flowyard.dsl import ast
from flowyard.dsl.diagnostics import has_errors
from hypothesis import HealthCheck, given, settings
from ir_flow_strategies import flows

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(flows())
def test_generated_flows_compile(flow: ast.Flow) -> None:
    ir, diagnostics = compile_flow(flow)
    assert not has_errors(diagnostics), diagnostics
    assert ir is not None


@SETTINGS
@given(flows())
def test_yaml_round_trip_keeps_ast_and_hash(flow: ast.Flow) -> None:
    from flowyard.dsl.load import load_flow_text
    from flowyard.dsl.yaml_printer import format_yaml

    text = format_yaml(flow)
    again, diagnostics = load_flow_text(text, file="gen.flow.yaml", surface="yaml")
    assert not has_errors(diagnostics), (text, diagnostics)
    assert again == flow, text
    ir1, _ = compile_flow(flow)
    ir2, _ = compile_flow(again)
    assert ir1 is not None and ir2 is not None
    assert ir1["hash"] == ir2["hash"]


@SETTINGS
@given(flows())
def test_dsl_round_trip_keeps_ast_and_hash(flow: ast.Flow) -> None:
    from flowyard.dsl.dsl_parser import parse_dsl
    from flowyard.dsl.dsl_printer import format_dsl

    text = format_dsl(flow)
    again, diagnostics = parse_dsl(text, file="gen.flow")
    assert not has_errors(diagnostics), (text, diagnostics)
    assert again == flow, text
    ir1, _ = compile_flow(flow)
    ir2, _ = compile_flow(again)
    assert ir1 is not None and ir2 is not None
    assert ir1["hash"] == ir2["hash"]


EMPTY_BASE = """\
flow: t
version: 1
events:
  Go: {topic: t, key: event.id}
effects:
  e: {http: {method: POST, url: x}}
data:
  n: {type: integer, default: 0}
initial: a
states:
  a:
    on:
      Go:
        do:
          - call: e
        goto: b
  b:
    final: true
"""

# Empty constructs that mean something (nothing to do, no filter, no retries...):
# each is accepted and keeps its meaning, so its IR hash, through both printers.
EMPTY = {
    "do": ("        do:\n          - call: e\n", "        do: []\n"),
    "with": ("          - call: e\n", "          - call: e\n            with: {}\n"),
    "for_each": ("          - call: e\n", "          - call: e\n            for_each: []\n"),
    "enter_exit": ("  a:\n", "  a:\n    enter: []\n    exit: []\n"),
    "after_at": ("  a:\n", "  a:\n    after: {}\n    at: []\n"),
    "always_defer": ("  a:\n", "  a:\n    always: []\n    defer: []\n"),
    "catch": ("        goto: b\n", "        goto: b\n        catch: {}\n"),
    "no_candidates": ("      Go:\n        do:\n          - call: e\n        goto: b\n", "      Go: []\n"),  # noqa: E501
    "retry": ("url: x}}", "url: x, body: [], headers: {}}, retry: {retry_on: []}}"),
    "match": ("key: event.id}", "key: event.id, match: {}, match_headers: {}, schema: {}}"),
    "signals": ("initial: a", "signals: {}\ninitial: a"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_constructs_keep_their_hash_through_both_surfaces(name: str) -> None:
    from flowyard.compiler.api import compile_text
    from flowyard.dsl.dsl_printer import format_dsl
    from flowyard.dsl.load import load_flow_text
    from flowyard.dsl.yaml_printer import format_yaml

    old, new = EMPTY[name]
    text = EMPTY_BASE.replace(old, new, 1)
    assert text != EMPTY_BASE
    ir, diagnostics = compile_text(text, file="t.flow.yaml", surface="yaml", check_ir=True)
    assert ir is not None, diagnostics
    flow, _ = load_flow_text(text, file="t.flow.yaml", surface="yaml")
    assert flow is not None
    dsl = format_dsl(flow)
    from_dsl, _ = compile_text(dsl, file="t.flow", surface="dsl", check_ir=True)
    assert from_dsl is not None and from_dsl["hash"] == ir["hash"], dsl
    back, _ = compile_text(format_yaml(flow), file="u.flow.yaml", surface="yaml", check_ir=True)
    assert back is not None and back["hash"] == ir["hash"]
