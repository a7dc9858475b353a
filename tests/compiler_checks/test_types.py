"""FY4xx: expression types against the declared schemas; FY508: values stored in data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from flowyard.compiler.jsonschema_types import schema_type
from flowyard.compiler.typecheck import FlowTypes, check_expression, infer, state_scope
from flowyard.compiler.typecheck.types import (
    BOOL,
    DOUBLE,
    DURATION,
    DYN,
    INT,
    STRING,
    TIMESTAMP,
    ListType,
    ObjectType,
    display,
)
from flowyard.dsl import ast

if TYPE_CHECKING:
    from conftest import Kit


def lit(value: bool | int | float | str | None, line: int = 50, column: int = 30) -> ast.Literal:
    from flowyard.dsl.spans import Span

    return ast.Literal(value=value, span=Span.point("t.flow.yaml", line, column, 3))


def test_compare_number_with_string(kit: Kit) -> None:
    guard = ast.Binary(
        op="==",
        left=kit.expr_field("event", "amount"),
        right=lit("x"),
        span=kit.span(50, 13, 20),
    )
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY402")
    assert d.message == (
        "cannot compare number and string: event.amount is a number, 'x' is a string"
    )
    assert (d.span.line, d.span.column) == (50, 13)
    assert d.hint is not None


def test_event_not_in_scope_in_a_timer(kit: Kit) -> None:
    guard = ast.Binary(op=">", left=kit.expr_field("event", "amount", column=9), right=lit(1))
    timer = ast.AfterTimer(
        delay=ast.Duration(text="1h", millis=3_600_000),
        candidates=(ast.Transition(when=guard, goto="done"),),
    )
    d = kit.only(kit.check(kit.state(kit.flow(), "start", after=(timer,))), "FY401")
    assert d.message == "`event` is not in scope in `after 1h` of state start"
    assert (d.span.line, d.span.column, d.span.end_column) == (50, 9, 14)
    assert d.hint is not None and "store what you need in `data`" in d.hint


def test_event_not_in_scope_in_enter(kit: Kit) -> None:
    action = ast.SetAction(assignments=(("note", kit.expr_field("event", "kind")),))
    d = kit.only(kit.check(kit.state(kit.flow(), "done", enter=(action,))), "FY401")
    assert d.message == "`event` is not in scope in the `enter` actions of done"


def test_unknown_root_name(kit: Kit) -> None:
    guard = ast.Binary(op=">", left=kit.expr_field("dta", "total"), right=lit(1))
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY401")
    assert d.message == "unknown name `dta`"
    assert d.hint == "did you mean `data`?"


def test_field_missing_from_schema(kit: Kit) -> None:
    guard = ast.Binary(op=">", left=kit.expr_field("event", "discount"), right=lit(1))
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY403")
    assert d.message == (
        "`discount` is not declared in the payload schema of event Go: it may be absent at run time"
    )
    assert (d.span.line, d.span.column) == (50, 1)
    assert not d.is_error


def test_field_two_edits_from_a_declared_one_is_an_error(kit: Kit) -> None:
    guard = ast.Binary(op=">", left=kit.expr_field("event", "amout"), right=lit(1))
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY407")
    assert d.message == (
        "`amout` is not declared in the payload schema of event Go, which declares `amount`: "
        "reading an absent field fails at run time"
    )
    assert d.hint is not None and d.hint.startswith("did you mean `amount`?")
    assert d.is_error


def test_signal_payload_types_event_in_its_handler(kit: Kit) -> None:
    flow = kit.flow()
    guard = ast.Binary(op="&&", left=kit.expr_field("event", "ok"), right=lit(1))
    clause = ast.OnClause(trigger="approve", candidates=(ast.Transition(when=guard, goto="done"),))
    d = kit.only(kit.check(kit.state(flow, "start", on=(flow.states[0].on[0], clause))), "FY402")
    assert d.message == "`&&` needs booleans, but 1 is an integer"


def test_undeclared_data_field_in_expression(kit: Kit) -> None:
    guard = ast.Binary(op=">", left=kit.expr_field("data", "totl"), right=lit(1))
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY206")
    assert d.message == "data field `totl` is not declared"


def test_unknown_function(kit: Kit) -> None:
    guard = ast.Call(
        function="lenght", args=(kit.expr_field("event", "kind"),), span=kit.span(50, 7)
    )
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY404")
    assert d.message == "unknown function `lenght`"
    assert (d.span.line, d.span.column) == (50, 7)


def test_function_wrong_arity_and_type(kit: Kit) -> None:
    size = ast.Call(function="size", args=(), span=kit.span(50, 7))
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=size, goto="done"))), "FY404")
    assert d.message == "size() takes 1 argument, but 0 were given"
    bad = ast.Call(function="timestamp", args=(kit.expr_field("event", "amount"),))
    guard = ast.Binary(op="<", left=bad, right=kit.expr_field("now"))
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY404")
    assert d.message == "timestamp() cannot take a number: event.amount is a number"


def test_invalid_regex(kit: Kit) -> None:
    pattern = lit("a(b", column=40)
    guard = ast.Call(function="matches", args=(kit.expr_field("event", "kind"), pattern))
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY405")
    assert d.message.startswith("invalid regular expression 'a(b': ")
    assert (d.span.line, d.span.column) == (50, 40)


def test_guard_must_be_boolean(kit: Kit) -> None:
    guard = kit.expr_field("event", "amount", column=17)
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY406")
    assert d.message == "a guard must be a boolean, but event.amount is a number"
    assert (d.span.line, d.span.column) == (50, 17)


def test_set_value_conflicting_with_data_schema(kit: Kit) -> None:
    action = ast.SetAction(assignments=(("total", kit.expr_field("event", "kind", column=20)),))
    d = kit.only(kit.check(kit.on_go(ast.Transition(actions=(action,), goto="done"))), "FY508")
    assert d.message == "data field 'total' is a number, but event.kind is a string"
    assert (d.span.line, d.span.column) == (50, 20)
    assert not d.is_error


def test_set_timestamp_into_string_field_hints_string(kit: Kit) -> None:
    action = ast.SetAction(assignments=(("note", kit.expr_field("now")),))
    d = kit.only(kit.check(kit.on_go(ast.Transition(actions=(action,), goto="done"))), "FY508")
    assert d.hint == "store it as text with string(...)"


# ---------------------------------------------------------------- the inferencer itself


@pytest.fixture
def scope(kit: Kit) -> object:
    return state_scope(FlowTypes.of(kit.flow()), where="a test", trigger="Go")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (ast.Binary(op="+", left=lit(1), right=lit(2)), INT),
        (ast.Binary(op="+", left=lit(1), right=lit(2.5)), DOUBLE),
        (ast.Binary(op="/", left=lit(7), right=lit(2)), INT),
        (ast.Binary(op="+", left=lit("a"), right=lit("b")), STRING),
        (
            ast.Binary(
                op="+",
                left=ast.ListLit(items=(lit(1),)),
                right=ast.ListLit(items=(lit(2.0),)),
            ),
            ListType(DOUBLE),
        ),
        (
            ast.Binary(
                op="+",
                left=ast.Name(name="now"),
                right=ast.Call(function="duration", args=(lit("1h"),)),
            ),
            TIMESTAMP,
        ),
        (ast.Binary(op="-", left=ast.Name(name="now"), right=ast.Name(name="now")), DURATION),
        (ast.Binary(op="<", left=ast.Name(name="now"), right=ast.Name(name="now")), BOOL),
        (
            ast.Call(
                function="size", args=(ast.Field(target=ast.Name(name="data"), name="items"),)
            ),
            INT,
        ),
        (
            ast.Field(
                target=ast.Index(
                    target=ast.Field(target=ast.Name(name="data"), name="items"), index=lit(0)
                ),
                name="url",
            ),
            STRING,
        ),
        (ast.Field(target=ast.Name(name="meta"), name="partition"), INT),
        (
            ast.Index(
                target=ast.Field(target=ast.Name(name="meta"), name="headers"), index=lit("h")
            ),
            STRING,
        ),
        (ast.Field(target=ast.Name(name="env"), name="ANYTHING"), STRING),
        (ast.Conditional(condition=lit(True), then=lit(1), otherwise=lit(None)), INT),
        (ast.Template(parts=("n=", lit(1))), STRING),
        (ast.Binary(op="in", left=lit("a"), right=ast.ListLit(items=(lit("a"),))), BOOL),
        (
            ast.Call(function="has", args=(ast.Field(target=ast.Name(name="event"), name="nope"),)),
            BOOL,
        ),
        (
            ast.Binary(op="+", left=ast.Field(target=ast.Name(name="env"), name="X"), right=lit(1)),
            DYN,
        ),
    ],
)
def test_inferred_types(scope: object, expr: ast.Expr, expected: object) -> None:
    t, diags = check_expression(expr, scope)  # type: ignore[arg-type]
    assert [d.code for d in diags] == ([] if expected != DYN else ["FY402"])
    assert t == expected, display(t)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (ast.Unary(op="!", operand=lit(1)), "`!` needs a boolean, but 1 is an integer"),
        (
            ast.Binary(op="in", left=lit("a"), right=lit("abc")),
            "`in` needs a list or a map on the right, but 'abc' is a string",
        ),
        (
            ast.Binary(op="-", left=ast.Name(name="now"), right=lit(1)),
            "cannot subtract timestamp and number: now is a timestamp, 1 is an integer",
        ),
        (
            ast.Field(target=ast.Name(name="key"), name="x"),
            "cannot read field `x` of a string: key is a string",
        ),
        (
            ast.Index(target=ast.Field(target=ast.Name(name="data"), name="items"), index=lit("a")),
            "a list index must be an integer, but 'a' is a string",
        ),
        (
            ast.Conditional(condition=lit("yes"), then=lit(1), otherwise=lit(2)),
            "the condition of `?:` must be a boolean, but 'yes' is a string",
        ),
        (ast.Call(function="has", args=(lit(1),)), "has() takes one field, like has(event.coupon)"),
    ],
)
def test_type_errors(scope: object, expr: ast.Expr, message: str) -> None:
    _, diags = check_expression(expr, scope)  # type: ignore[arg-type]
    assert [(d.code, d.message) for d in diags] == [
        ("FY404" if "has()" in message else "FY402", message)
    ]


def test_infer_ignores_problems_and_dyn_does_not_cascade(scope: object) -> None:
    unknown = ast.Field(target=ast.Name(name="nope"), name="x")
    expr = ast.Binary(op="+", left=unknown, right=lit("s"))
    assert infer(expr, scope) == STRING  # type: ignore[arg-type]
    _, diags = check_expression(expr, scope)  # type: ignore[arg-type]
    assert [d.code for d in diags] == ["FY401"]


def test_odd_nodes_are_dyn(scope: object) -> None:
    assert infer("not an expression", scope) == DYN  # type: ignore[arg-type]


def test_schema_types() -> None:
    t = schema_type(
        {
            "type": "object",
            "properties": {
                "n": {"type": ["integer", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "kind": {"enum": ["a", "b"]},
                "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "additionalProperties": False,
        }
    )
    assert isinstance(t, ObjectType)
    assert display(t) == "{n: int, tags: list[string], kind: string, any: dyn}"
    assert schema_type({"type": "object"}) == ObjectType((), DYN, "the schema")
    assert schema_type(True) == DYN


@pytest.mark.parametrize(
    ("name", "declared", "expected"),
    [
        ("risk_scor", ["risk_score", "order_id"], "risk_score"),
        ("totla", ["total"], "total"),  # two neighbours swapped: one edit
        ("risk_scr", ["risk_score"], "risk_score"),  # two edits
        ("amnt", ["amount"], None),  # two edits in a short name
        ("amt", ["amount"], None),  # three edits
        ("ib", ["id"], None),  # short names are not taken for each other
        ("discount", ["order_id", "total"], None),
    ],
)
def test_misspelling_of(name: str, declared: list[str], expected: str | None) -> None:
    from flowyard.dsl.diagnostics import misspelling_of

    assert misspelling_of(name, declared) == expected
