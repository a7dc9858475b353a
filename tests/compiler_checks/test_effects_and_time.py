"""FY105 and FY5xx: schemas, durations, retry policies, fan-out and effect definitions."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from flowyard.dsl import ast

if TYPE_CHECKING:
    from conftest import Kit


def with_effect(kit: Kit, **kw: Any) -> ast.Flow:
    flow = kit.flow()
    effect = dataclasses.replace(flow.effects[0], **kw)
    return dataclasses.replace(flow, effects=(effect,))


def dur(kit: Kit, text: str, millis: int, line: int = 13) -> ast.Duration:
    return ast.Duration(text=text, millis=millis, span=kit.span(line, 14, len(text)))


def test_invalid_json_schema(kit: Kit) -> None:
    flow = kit.flow()
    bad = ast.SchemaDecl(schema={"type": "strng"}, span=kit.span(16, 10, 20))
    data = (dataclasses.replace(flow.data[0], schema=bad), *flow.data[1:])
    d = kit.only(kit.check(dataclasses.replace(flow, data=data)), "FY105")
    assert d.message.startswith("the schema of data field total is not a valid JSON Schema: ")
    assert "strng" in d.message
    assert (d.span.line, d.span.column) == (16, 10)


def test_default_not_matching_schema(kit: Kit) -> None:
    flow = kit.flow()
    data = (dataclasses.replace(flow.data[0], default="zero", span=kit.span(15, 3, 30)),)
    d = kit.only(kit.check(dataclasses.replace(flow, data=(*data, *flow.data[1:]))), "FY509")
    assert d.is_error
    assert d.message == (
        "the default of data field 'total' does not match its schema: "
        "'zero' is not of type 'number'"
    )


def test_default_in_the_wrong_format_is_said_in_our_words(kit: Kit) -> None:
    flow = kit.flow()
    schema = ast.SchemaDecl(schema={"type": "string", "format": "email"})
    data = (dataclasses.replace(flow.data[0], schema=schema, default="nobody"),)
    d = kit.only(kit.check(dataclasses.replace(flow, data=(*data, *flow.data[1:]))), "FY509")
    assert d.message == (
        "the default of data field 'total' does not match its schema: 'nobody' is not a valid email"
    )


def test_missing_default_must_allow_null(kit: Kit) -> None:
    flow = kit.flow()
    data = (dataclasses.replace(flow.data[0], default=None, has_default=False),)
    d = kit.only(kit.check(dataclasses.replace(flow, data=(*data, *flow.data[1:]))), "FY509")
    assert "has no default, so it starts as null" in d.message
    nullable = kit.flow()
    schema = dataclasses.replace(nullable.data[0].schema, schema={"type": ["number", "null"]})
    field = dataclasses.replace(nullable.data[0], schema=schema, default=None, has_default=False)
    assert not kit.check(dataclasses.replace(nullable, data=(field, *nullable.data[1:])))


def test_zero_timeout(kit: Kit) -> None:
    d = kit.only(kit.check(with_effect(kit, timeout=dur(kit, "0s", 0))), "FY501")
    assert d.message == "the timeout of effect work is '0s', but it must be greater than zero"
    assert (d.span.line, d.span.column) == (13, 14)


def test_absurd_duration(kit: Kit) -> None:
    timer = ast.AfterTimer(
        delay=dur(kit, "99999d", 99999 * 86_400_000, line=21),
        candidates=(ast.Transition(goto="done"),),
    )
    d = kit.only(kit.check(kit.state(kit.flow(), "start", after=(timer,))), "FY501")
    assert d.message == "`after` in state start is '99999d', which is more than ten years"
    assert d.span.line == 21


def test_bad_duration_literal_in_expression(kit: Kit) -> None:
    text = ast.Literal(value="5 minutes", span=kit.span(50, 20, 11))
    guard = ast.Binary(
        op=">",
        left=ast.Call(function="duration", args=(text,)),
        right=ast.Call(function="duration", args=(ast.Literal(value="PT5M"),)),
    )
    d = kit.only(kit.check(kit.on_go(ast.Transition(when=guard, goto="done"))), "FY501")
    assert d.message == "'5 minutes' is not a duration"
    assert (d.span.line, d.span.column) == (50, 20)


def test_retry_policy(kit: Kit) -> None:
    retry = ast.RetryPolicy(
        attempts=0,
        backoff=dur(kit, "2m", 120_000),
        retry_on=("timeout", "5xx", "often"),
        span=kit.span(14, 12, 40),
    )
    diags = [d for d in kit.check(with_effect(kit, retry=retry)) if d.code == "FY502"]
    assert sorted(d.message for d in diags) == [
        "effect work: backoff 2m is longer than max_backoff 1m (the default)",
        "effect work: retry attempts is 0, but it counts the first try too",
        "effect work: retry_on '5xx' is an HTTP status, but this is a python effect",
        "effect work: unknown retry_on 'often'",
    ]
    assert all((d.span.line, d.span.column) == (14, 12) for d in diags)


def test_http_retry_on_status_codes_is_fine(kit: Kit) -> None:
    http = ast.HttpEffect(method="POST", url=ast.Literal(value="http://x"))
    retry = ast.RetryPolicy(retry_on=("timeout", "error", "5xx", "4xx", "429"))
    assert kit.check(with_effect(kit, kind=http, retry=retry)) == []


def _fan_out(kit: Kit, for_each: ast.Expr | None, concurrency: int | None) -> ast.Flow:
    call = ast.CallAction(
        effect="work",
        for_each=for_each,
        concurrency=concurrency,
        args=ast.MapLit(entries=(("url", kit.expr_field("item", "url", line=51)),)),
        span=kit.span(24, 11, 30),
    )
    return kit.on_go(ast.Transition(actions=(call,), goto="done"))


def test_for_each_needs_a_list(kit: Kit) -> None:
    d = kit.only(kit.check(_fan_out(kit, kit.expr_field("data", "total"), None)), "FY503")
    assert d.message == "for_each needs a list, but data.total is a number"
    assert (d.span.line, d.span.column) == (50, 1)


def test_item_is_typed_from_for_each(kit: Kit) -> None:
    assert kit.check(_fan_out(kit, kit.expr_field("data", "items"), 5)) == []


def test_item_outside_for_each(kit: Kit) -> None:
    d = kit.only(kit.check(_fan_out(kit, None, None)), "FY401")
    assert d.message == "`item` is not in scope in `on Go` of state start"
    assert d.span.line == 51


def test_concurrency(kit: Kit) -> None:
    d = kit.only(kit.check(_fan_out(kit, kit.expr_field("data", "items"), 0)), "FY504")
    assert d.message == "concurrency is 0, but at least one call must run at a time"
    assert d.span.line == 24
    d = kit.only(kit.check(_fan_out(kit, None, 4)), "FY504")
    assert d.message == "`concurrency` is set on a call without `for_each`"


def test_effect_template_scope(kit: Kit) -> None:
    http = ast.HttpEffect(
        method="POST",
        url=ast.Binary(
            op="+",
            left=kit.expr_field("env", "URL"),
            right=kit.expr_field("callback", "url", line=52, column=30),
        ),
        body=ast.MapLit(entries=(("total", kit.expr_field("data", "total", line=53)),)),
    )
    diags = kit.check(with_effect(kit, kind=http))
    assert [(d.code, d.span.line) for d in diags] == [("FY505", 52), ("FY505", 53)]
    callback, data = diags
    assert callback.message == "`callback` is not in scope in effect work"
    assert (
        callback.hint == "add `callback: {timeout: ...}` to effect work to complete it by callback"
    )
    assert data.message == "`data` is not in scope in effect work"
    assert data.hint is not None and "args.<name>" in data.hint


def test_effect_with_callback_sees_callback(kit: Kit) -> None:
    http = ast.HttpEffect(method="POST", url=kit.expr_field("callback", "url"))
    flow = with_effect(kit, kind=http, callback_timeout=dur(kit, "2d", 172_800_000))
    assert kit.check(flow) == []


def test_invalid_effect_definitions(kit: Kit) -> None:
    python = ast.PythonEffect(target="pkg.mod.work", span=kit.span(12, 13, 12))
    d = kit.only(kit.check(with_effect(kit, kind=python)), "FY506")
    assert d.message == "effect work: python target 'pkg.mod.work' is not 'module.path:function'"
    assert (d.span.line, d.span.column) == (12, 13)
    http = ast.HttpEffect(method="post", url=ast.Literal(value="http://x"))
    d = kit.only(kit.check(with_effect(kit, kind=http)), "FY506")
    assert d.message == "effect work: 'post' is not an HTTP method"
    assert d.hint == "write it in capitals: POST"


def test_event_delay_and_match(kit: Kit) -> None:
    event = kit.event(
        delay=ast.Duration(text="0s", millis=0, span=kit.span(5, 12, 2)),
        match=(
            ast.MatchEntry(path="kind", values=(1,), span=kit.span(4, 12, 8)),
            ast.MatchEntry(path="kind", values=("a",), span=kit.span(4, 22, 8)),
        ),
    )
    diags = [d for d in kit.check(kit.flow(events=(event,))) if d.code == "FY507"]
    assert [(d.span.line, d.span.column) for d in diags] == [(4, 12), (4, 22), (5, 12)]
    assert diags[0].message == (
        "the match on 'kind' of event Go can never hold: the field is a string, 1 is an integer"
    )
    assert diags[1].message == "event Go matches field 'kind' twice"
    assert diags[2].message == "the delay of event Go is zero"


def test_match_on_undeclared_field(kit: Kit) -> None:
    entry = ast.MatchEntry(path="knd", values=("a",), span=kit.span(4, 12))
    open_event = kit.event(match=(entry,))
    assert kit.check(kit.flow(events=(open_event,))) == []
    closed = ast.SchemaDecl(
        schema={
            "type": "object",
            "properties": {"id": {"type": "string"}, "kind": {"type": "string"}},
            "additionalProperties": False,
        }
    )
    d = kit.only(kit.check(kit.flow(events=(kit.event(match=(entry,), schema=closed),))), "FY507")
    assert d.message == (
        "event Go matches on 'knd', which its schema does not declare and forbids "
        "(additionalProperties: false)"
    )
    assert d.hint == "did you mean 'kind'?"


def test_for_each_result_into_a_non_list_field(kit: Kit) -> None:
    call = ast.CallAction(
        effect="work",
        for_each=kit.expr_field("data", "items"),
        result="total",
        span=kit.span(24, 11, 30),
    )
    d = kit.only(kit.check(kit.on_go(ast.Transition(actions=(call,), goto="done"))), "FY508")
    assert d.message == "data field 'total' is a number, but the list of results is a list"
