"""The checks never raise, whatever the AST: inference of random expressions, empty flows."""

from __future__ import annotations

from flowyard.compiler.checks import check_flow
from flowyard.compiler.typecheck import FlowTypes, check_expression, state_scope
from flowyard.dsl import ast
from flowyard.dsl.diagnostics import CODES
from hypothesis import given, settings
from hypothesis import strategies as st

NAMES = ["event", "data", "key", "state", "meta", "now", "env", "item", "args", "x"]
FIELDS = ["id", "amount", "total", "items", "url", "headers", "nope"]
FUNCTIONS = ["size", "has", "string", "int", "double", "timestamp", "duration", "matches", "f"]
OPS = ["||", "&&", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%"]

literals = st.builds(
    ast.Literal,
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(-2, 2),
        st.sampled_from(["", "(", "1h"]),
    ),
)
names = st.builds(ast.Name, name=st.sampled_from(NAMES))


def _extend(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        st.builds(ast.Field, target=children, name=st.sampled_from(FIELDS)),
        st.builds(ast.Index, target=children, index=children),
        st.builds(ast.Unary, op=st.sampled_from(["!", "-"]), operand=children),
        st.builds(ast.Binary, op=st.sampled_from(OPS), left=children, right=children),
        st.builds(ast.Conditional, condition=children, then=children, otherwise=children),
        st.builds(
            ast.Call,
            function=st.sampled_from(FUNCTIONS),
            args=st.lists(children, max_size=3).map(tuple),
        ),
        st.builds(ast.ListLit, items=st.lists(children, max_size=3).map(tuple)),
        st.builds(
            ast.MapLit,
            entries=st.lists(st.tuples(st.sampled_from(FIELDS), children), max_size=2).map(tuple),
        ),
        st.builds(
            ast.Template,
            parts=st.lists(st.one_of(st.just("s"), children), max_size=3).map(tuple),
        ),
    )


expressions = st.recursive(st.one_of(literals, names), _extend, max_leaves=12)

SCOPE = state_scope(
    FlowTypes.of(
        ast.Flow(
            name="f",
            version=1,
            data=(
                ast.DataField(
                    name="items",
                    schema=ast.SchemaDecl(schema={"type": "array", "items": {"type": "object"}}),
                ),
            ),
        )
    ),
    where="a test",
)


@settings(max_examples=150, deadline=None)
@given(expressions)
def test_inference_never_raises(expr: ast.Expr) -> None:
    _, diagnostics = check_expression(expr, SCOPE)
    assert all(d.code in CODES for d in diagnostics)


def test_empty_flow() -> None:
    diagnostics = check_flow(ast.Flow(name="f", version=1))
    assert [(d.code, d.message) for d in diagnostics] == [("FY203", "the flow declares no states")]


def test_odd_schemas_and_empty_candidate_lists() -> None:
    flow = ast.Flow(
        name="f",
        version=1,
        events=(
            ast.EventDecl(
                name="E",
                topic="",
                key=ast.Name(name="event"),
                schema=ast.SchemaDecl(schema={"properties": []}),  # type: ignore[dict-item]
            ),
        ),
        initial="s",
        states=(
            ast.State(
                name="s",
                on=(ast.OnClause(trigger="E", candidates=()),),
                always=(ast.Transition(goto="s"),),
            ),
        ),
    )
    codes = {d.code for d in check_flow(flow)}
    assert {"FY105", "FY303", "FY305"} <= codes
