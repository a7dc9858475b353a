"""Lowering a Flow AST to IR: defaults, ids, expression trees, source spans, schema."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flowyard.compiler.ir import InvalidIRError, ir_hash, schema_errors, validate_ir
from flowyard.compiler.lower import lower
from flowyard.dsl import ast
from flowyard.dsl.spans import Span
from hypothesis import HealthCheck, given, settings
from ir_flow_strategies import flows


def sp(line: int, col: int, end_col: int) -> Span:
    return Span(file="t.flow.yaml", line=line, column=col, end_line=line, end_column=end_col)


def ev(name: str) -> ast.Field:
    return ast.Field(target=ast.Name(name="event"), name=name)


def sample_flow() -> ast.Flow:
    guard = ast.Binary(
        op=">=",
        left=ev("amount"),
        right=ast.Field(target=ast.Name(name="data"), name="total"),
        span=sp(20, 15, 40),
    )
    call = ast.CallAction(
        effect="reserve",
        args=ast.MapLit(entries=(("id", ast.Name(name="key")),), span=sp(12, 19, 30)),
        result="reservation",
        span=sp(11, 11, 30),
    )
    fan_out = ast.CallAction(
        effect="notify",
        args=ast.MapLit(entries=(("url", ast.Field(target=ast.Name(name="item"), name="url")),)),
        for_each=ast.Field(target=ast.Name(name="data"), name="subs"),
    )
    return ast.Flow(
        name="order",
        version=3,
        key="order_id",
        events=(
            ast.EventDecl(
                name="Paid",
                topic="payments",
                key=ev("order_id"),
                match=(ast.MatchEntry(path="meta.type", values=("paid", 1)),),
                match_headers=(ast.MatchEntry(path="ce-type", values=("x",)),),
                span=sp(3, 3, 7),
            ),
        ),
        signals=(ast.SignalDecl(name="approve"),),
        effects=(
            ast.EffectDecl(
                name="reserve",
                kind=ast.PythonEffect(target="examples.shop:reserve_stock"),
                retry=ast.RetryPolicy(attempts=5, backoff=ast.Duration(text="2s", millis=2000)),
            ),
            ast.EffectDecl(
                name="notify",
                kind=ast.HttpEffect(
                    method="post",
                    url=ast.Template(
                        parts=("https://x/", ast.Field(target=ast.Name(name="args"), name="id"))
                    ),
                ),
                timeout=ast.Duration(text="5s", millis=5000),
                callback_timeout=ast.Duration(text="2d", millis=172_800_000),
            ),
        ),
        data=(
            ast.DataField(
                name="total",
                schema=ast.SchemaDecl(schema={"type": "number"}),
                default=0,
                has_default=True,
            ),
        ),
        initial="new",
        states=(
            ast.State(
                name="new",
                enter=(ast.SetAction(assignments=(("total", ast.Literal(value=1.0)),)),),
                on=(
                    ast.OnClause(
                        trigger="Paid",
                        candidates=(
                            ast.Transition(
                                when=guard,
                                actions=(call, fan_out),
                                goto="done",
                                catch=ast.Catch(goto="done"),
                                span=sp(19, 9, 30),
                            ),
                            ast.Transition(),
                        ),
                    ),
                ),
                after=(
                    ast.AfterTimer(
                        delay=ast.Duration(text="30m", millis=1_800_000),
                        candidates=(ast.Transition(goto="done"),),
                    ),
                ),
                at=(
                    ast.AtTimer(
                        time=ast.Call(
                            function="timestamp", args=(ast.Literal(value="2030-01-01T00:00:00Z"),)
                        ),
                        candidates=(ast.Transition(goto="done"),),
                    ),
                ),
                defer=(ast.Ref(name="approve"),),
                span=sp(18, 3, 6),
            ),
            ast.State(name="done", final=True),
        ),
        span=Span(file="t.flow.yaml", line=1, column=1, end_line=40, end_column=1),
    )


def test_defaults_are_explicit() -> None:
    d = lower(sample_flow())["definition"]
    reserve, notify = d["effects"]["reserve"], d["effects"]["notify"]
    assert reserve["python"] == {"module": "examples.shop", "function": "reserve_stock"}
    assert reserve["timeout_ms"] == 30_000
    assert reserve["retry"] == {
        "attempts": 5,
        "backoff_ms": 2000,
        "multiplier": 2.0,
        "max_backoff_ms": 60_000,
        "jitter": False,
        "retry_on": ["timeout", "error", "5xx", "429"],
    }
    assert reserve["callback"] is None
    assert "http" not in reserve and "emit" not in reserve
    assert notify["http"]["method"] == "POST"
    assert notify["http"]["headers"] == {} and notify["http"]["body"] is None
    assert notify["timeout_ms"] == 5000 and notify["callback"] == {"timeout_ms": 172_800_000}
    assert d["events"]["Paid"]["delay_ms"] == 0
    assert d["events"]["Paid"]["schema"] is None
    assert d["events"]["Paid"]["match"] == [{"path": ["meta", "type"], "values": ["paid", 1]}]
    assert d["events"]["Paid"]["match_headers"] == [{"name": "ce-type", "values": ["x"]}]
    assert d["signals"]["approve"] == {"schema": None, "topic": None, "key": None}
    assert d["data"]["total"] == {"schema": {"type": "number"}, "default": 0}
    assert d["limits"] == {"max_always_steps": 100}
    assert d["description"] is None and d["key"] == "order_id"


def test_ids_and_actions() -> None:
    new = lower(sample_flow())["definition"]["states"]["new"]
    first, second = new["on"]["Paid"]
    assert first["id"] == "new/on/Paid/0" and second["id"] == "new/on/Paid/1"
    assert second == {
        "id": "new/on/Paid/1",
        "when": None,
        "actions": [],
        "target": None,
        "catch": None,
    }
    assert first["catch"] == {"actions": [], "target": "done"}
    call, fan_out = first["actions"]
    assert call == {
        "id": "new/on/Paid/0/do/0",
        "op": "call",
        "effect": "reserve",
        "args": {"op": "map", "entries": [{"key": "id", "value": {"op": "name", "name": "key"}}]},
        "result": "reservation",
        "for_each": None,
        "concurrency": None,
    }
    assert fan_out["id"] == "new/on/Paid/0/do/1" and fan_out["concurrency"] == 1
    assert new["enter"] == [
        {
            "id": "new/enter/0",
            "op": "set",
            "assign": [{"field": "total", "value": {"op": "lit", "value": 1.0}}],
        }
    ]
    after, at = new["timers"]
    assert after["id"] == "new/after/0" and after["kind"] == "after"
    assert after["delay_ms"] == 1_800_000
    assert after["candidates"][0]["id"] == "new/after/0/0"
    assert at["id"] == "new/at/0" and at["kind"] == "at"
    assert at["time"]["op"] == "call" and at["time"]["function"] == "timestamp"
    assert new["defer"] == ["approve"]


def test_expression_trees() -> None:
    ir = lower(sample_flow())
    when = ir["definition"]["states"]["new"]["on"]["Paid"][0]["when"]
    assert when == {
        "op": "binary",
        "operator": ">=",
        "left": {"op": "field", "target": {"op": "name", "name": "event"}, "name": "amount"},
        "right": {"op": "field", "target": {"op": "name", "name": "data"}, "name": "total"},
    }
    url = ir["definition"]["effects"]["notify"]["http"]["url"]
    assert url["op"] == "template" and url["parts"][0] == "https://x/"
    every_op: list[dict[str, Any]] = [
        {"op": "unary", "operator": "!", "operand": {"op": "lit", "value": True}},
        {"op": "index", "target": {"op": "list", "items": []}, "index": {"op": "lit", "value": 0}},
        {
            "op": "cond",
            "condition": {"op": "lit", "value": True},
            "then": {"op": "lit", "value": 1},
            "otherwise": {"op": "lit", "value": None},
        },
    ]
    from flowyard.compiler.lower_expr import lower_expr

    t = ast.Literal(value=True)
    assert lower_expr(ast.Unary(op="!", operand=t)) == every_op[0]
    assert (
        lower_expr(ast.Index(target=ast.ListLit(items=()), index=ast.Literal(value=0)))
        == every_op[1]
    )
    assert (
        lower_expr(
            ast.Conditional(
                condition=t, then=ast.Literal(value=1), otherwise=ast.Literal(value=None)
            )
        )
        == every_op[2]
    )


def test_source_spans_are_json_pointers() -> None:
    spans = lower(sample_flow())["source"]["spans"]
    assert spans[""] == [1, 1, 40, 1]
    assert spans["/events/Paid"] == [3, 3, 3, 7]
    assert spans["/states/new"] == [18, 3, 18, 6]
    assert spans["/states/new/on/Paid/0"] == [19, 9, 19, 30]
    assert spans["/states/new/on/Paid/0/when"] == [20, 15, 20, 40]
    assert spans["/states/new/on/Paid/0/actions/0"] == [11, 11, 11, 30]
    assert spans["/states/new/on/Paid/0/actions/0/args"] == [12, 19, 12, 30]
    # Nodes without a position (NO_SPAN) are left out rather than given zeros.
    assert "/states/done" not in spans


def test_ir_matches_schema_and_hash() -> None:
    ir = lower(sample_flow())
    validate_ir(ir)
    assert ir["hash"] == ir_hash(ir)
    assert ir["source"]["file"] == "t.flow.yaml"


def test_hash_ignores_source_but_not_definition() -> None:
    flow = sample_flow()
    moved = dataclasses.replace(
        flow, span=Span(file="other.flow", line=2, column=1, end_line=3, end_column=1)
    )
    assert lower(moved)["hash"] == lower(flow)["hash"]
    assert lower(dataclasses.replace(flow, version=4))["hash"] != lower(flow)["hash"]


def test_pointer_escaping() -> None:
    flow = sample_flow()
    odd = dataclasses.replace(flow.states[1], name="a/b~c", span=sp(30, 1, 5))
    ir = lower(dataclasses.replace(flow, states=(flow.states[0], odd)))
    assert ir["source"]["spans"]["/states/a~1b~0c"] == [30, 1, 30, 5]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("definition", "limits", "extra"), 1),
        (("definition", "states", "new", "final"), "no"),
        (("definition", "effects", "reserve", "http"), {"method": "GET"}),
        (("hash",), "md5:00"),
    ],
)
def test_schema_rejects_broken_ir(path: tuple[str, ...], value: object) -> None:
    ir = lower(sample_flow())
    target = ir
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert schema_errors(ir)
    with pytest.raises(InvalidIRError):
        validate_ir(ir)


def test_tampered_hash_is_rejected() -> None:
    ir = lower(sample_flow())
    ir["definition"]["initial"] = "done"
    with pytest.raises(InvalidIRError, match="not the hash"):
        validate_ir(ir)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_generated_flows_lower_to_valid_ir(flow: ast.Flow) -> None:
    ir = lower(flow)
    assert schema_errors(ir) == []
    assert lower(flow)["hash"] == ir["hash"]


def test_non_finite_numbers_are_rejected() -> None:
    flow = sample_flow()
    new = flow.states[0]
    nan_set = ast.SetAction(assignments=(("total", ast.Literal(value=float("nan"))),))
    broken = dataclasses.replace(
        flow, states=(dataclasses.replace(new, enter=(nan_set,)), flow.states[1])
    )
    with pytest.raises(InvalidIRError, match="not a finite number"):
        validate_ir(lower(broken))
