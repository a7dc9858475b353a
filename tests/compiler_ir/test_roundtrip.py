"""Generated flows survive both printers unchanged and keep their IR hash."""

from __future__ import annotations

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
