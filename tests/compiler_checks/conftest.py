"""Builders for small flows written directly as AST nodes, with spans where tests look."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flowyard.compiler.checks import check_flow
from flowyard.dsl import ast
from flowyard.dsl.diagnostics import Diagnostic
from flowyard.dsl.spans import Span

FILE = "t.flow.yaml"


class Kit:
    """Helpers shared by the tests: spans, a valid base flow, running the checks."""

    ast = ast

    @staticmethod
    def span(line: int, column: int, width: int = 1) -> Span:
        return Span.point(FILE, line, column, width)

    @staticmethod
    def expr_field(*path: str, line: int = 50, column: int = 1) -> ast.Expr:
        expr: ast.Expr = ast.Name(name=path[0], span=Kit.span(line, column, len(path[0])))
        width = len(path[0])
        for name in path[1:]:
            width += 1 + len(name)
            expr = ast.Field(target=expr, name=name, span=Kit.span(line, column, width))
        return expr

    @staticmethod
    def schema(**properties: Any) -> ast.SchemaDecl:
        return ast.SchemaDecl(schema={"type": "object", "properties": properties})

    def event(self, name: str = "Go", **kw: Any) -> ast.EventDecl:
        base: dict[str, Any] = {
            "name": name,
            "topic": "t",
            "key": self.expr_field("event", "id"),
            "schema": self.schema(
                id={"type": "string"}, amount={"type": "number"}, kind={"type": "string"}
            ),
            "name_span": self.span(3, 3, len(name)),
        }
        base.update(kw)
        return ast.EventDecl(**base)

    def flow(self, **kw: Any) -> ast.Flow:
        start = ast.State(
            name="start",
            name_span=self.span(20, 3, 5),
            on=(
                ast.OnClause(
                    trigger="Go",
                    trigger_span=self.span(22, 7, 2),
                    candidates=(
                        ast.Transition(
                            actions=(
                                ast.CallAction(
                                    effect="work",
                                    effect_span=self.span(24, 17, 4),
                                    args=ast.MapLit(entries=(("id", self.expr_field("key")),)),
                                ),
                            ),
                            goto="done",
                            goto_span=self.span(26, 15, 4),
                        ),
                    ),
                ),
                ast.OnClause(
                    trigger="approve",
                    candidates=(ast.Transition(goto="done"),),
                ),
            ),
        )
        done = ast.State(name="done", final=True, name_span=self.span(30, 3, 4))
        base: dict[str, Any] = {
            "name": "f",
            "version": 1,
            "events": (self.event(),),
            "signals": (
                ast.SignalDecl(
                    name="approve",
                    schema=self.schema(ok={"type": "boolean"}),
                    name_span=self.span(8, 3, 7),
                ),
            ),
            "effects": (
                ast.EffectDecl(
                    name="work",
                    kind=ast.PythonEffect(target="pkg.mod:work"),
                    name_span=self.span(12, 3, 4),
                ),
            ),
            "data": (
                ast.DataField(
                    name="total",
                    schema=ast.SchemaDecl(schema={"type": "number"}),
                    default=0,
                    has_default=True,
                    name_span=self.span(15, 3, 5),
                ),
                ast.DataField(
                    name="note",
                    schema=ast.SchemaDecl(schema={"type": "string"}),
                    default="",
                    has_default=True,
                    name_span=self.span(16, 3, 4),
                ),
                ast.DataField(
                    name="items",
                    schema=ast.SchemaDecl(
                        schema={
                            "type": "array",
                            "items": {"type": "object", "properties": {"url": {"type": "string"}}},
                        }
                    ),
                    default=[],
                    has_default=True,
                    name_span=self.span(17, 3, 5),
                ),
            ),
            "initial": "start",
            "initial_span": self.span(18, 10, 5),
            "states": (start, done),
        }
        base.update(kw)
        return ast.Flow(**base)

    def state(self, flow: ast.Flow, name: str, **kw: Any) -> ast.Flow:
        """`flow` with state `name` replaced by a copy changed by `kw`."""
        states = tuple(dataclasses.replace(s, **kw) if s.name == name else s for s in flow.states)
        return dataclasses.replace(flow, states=states)

    def on_go(self, *candidates: ast.Transition) -> ast.Flow:
        """The base flow whose `start` state handles Go with `candidates`."""
        flow = self.flow()
        clause = ast.OnClause(trigger="Go", trigger_span=self.span(22, 7, 2), candidates=candidates)
        return self.state(flow, "start", on=(clause, flow.states[0].on[1]))

    @staticmethod
    def check(flow: ast.Flow) -> list[Diagnostic]:
        return check_flow(flow)

    @staticmethod
    def only(diags: list[Diagnostic], code: str) -> Diagnostic:
        found = [d for d in diags if d.code == code]
        assert len(found) == 1, [f"{d.code} {d.message}" for d in diags]
        return found[0]

    @staticmethod
    def codes(diags: list[Diagnostic]) -> list[str]:
        return [d.code for d in diags]


@pytest.fixture
def kit() -> Kit:
    return Kit()
