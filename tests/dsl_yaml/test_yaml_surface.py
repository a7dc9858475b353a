"""YAML -> AST: the shared examples, and what only the surface can check."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowyard.dsl import ast
from flowyard.dsl.load import (
    decode_source,
    load_flow_file,
    load_flow_text,
    load_yaml_text,
    sniff_surface,
    surface_for,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> ast.Flow:
    flow, diagnostics = load_flow_file(EXAMPLES / name)
    assert diagnostics == []
    assert flow is not None
    return flow


def _state(flow: ast.Flow, name: str) -> ast.State:
    return next(s for s in flow.states if s.name == name)


def _minimal(states: str, head: str = "") -> str:
    return f"flow: f\nversion: 1\n{head}initial: a\nstates:\n{states}"


def _load(text: str) -> ast.Flow:
    flow, diagnostics = load_yaml_text(text, file="t.flow.yaml")
    assert diagnostics == []
    assert flow is not None
    return flow


def test_all_shared_examples_load_without_diagnostics() -> None:
    names = sorted(p.name for p in EXAMPLES.glob("*.flow.yaml"))
    assert len(names) == 3
    for name in names:
        _example(name)


def test_order_fulfillment_shape() -> None:
    flow = _example("order_fulfillment.flow.yaml")
    assert (flow.name, flow.version, flow.key, flow.initial) == (
        "order_fulfillment",
        1,
        "order_id",
        "new",
    )
    assert [e.name for e in flow.events] == [
        "OrderPlaced",
        "OrderCancelled",
        "AddressChanged",
        "PaymentConfirmed",
    ]
    placed = flow.events[0]
    assert placed.topic == "orders"
    assert placed.match == (ast.MatchEntry(path="type", values=("order.placed",)),)
    assert placed.key == ast.Field(target=ast.Name(name="event"), name="order_id")
    assert placed.schema is not None
    assert placed.schema.schema["required"] == ["type", "order_id", "total", "items"]
    assert (placed.name_span.line, placed.name_span.column) == (15, 3)

    effects = {e.name: e for e in flow.effects}
    reserve = effects["reserve_stock"]
    assert reserve.kind == ast.PythonEffect(target="examples.shop:reserve_stock")
    assert reserve.timeout == ast.Duration(text="30s", millis=30_000)
    assert reserve.retry == ast.RetryPolicy(
        attempts=5,
        backoff=ast.Duration(text="1s", millis=1000),
        max_backoff=ast.Duration(text="1m", millis=60_000),
    )
    book = effects["book_shipment"]
    assert isinstance(book.kind, ast.HttpEffect)
    assert book.kind.method == "POST"
    assert isinstance(book.kind.url, ast.Binary)
    assert isinstance(book.kind.body, ast.MapLit)
    assert [k for k, _ in book.kind.body.entries] == ["order_id", "address", "callback_url"]
    assert book.callback_timeout == ast.Duration(text="2d", millis=172_800_000)
    publish = effects["publish"]
    assert publish.kind == ast.EmitEffect(topic="order-updates", key=ast.Name(name="key"))

    data = {d.name: d for d in flow.data}
    assert data["total"].schema.schema == {"type": "number"}
    assert (data["total"].default, data["total"].has_default) == (0, True)
    assert data["reservation"].default == {}

    new = _state(flow, "new")
    (clause,) = new.on
    assert clause.trigger == "OrderPlaced"
    (transition,) = clause.candidates
    assert transition.goto == "awaiting_payment"
    assert transition.catch == ast.Catch(goto="failed")
    set_total, call = transition.actions
    assert set_total == ast.SetAction(
        assignments=(("total", ast.Field(target=ast.Name(name="event"), name="total")),)
    )
    assert isinstance(call, ast.CallAction)
    assert (call.effect, call.result) == ("reserve_stock", "reservation")
    assert call.args is not None
    assert call.args.entries[0] == ("order_id", ast.Name(name="key"))
    assert (call.effect_span.line, call.effect_span.column) == (93, 19)
    assert (transition.goto_span.line, transition.goto_span.column) == (96, 15)

    waiting = _state(flow, "awaiting_payment")
    first, second = waiting.on[0].candidates
    assert isinstance(first.when, ast.Binary)
    assert first.when.op == "&&"
    assert second.goto == "paid"
    assert waiting.after == (
        ast.AfterTimer(
            delay=ast.Duration(text="30m", millis=1_800_000),
            candidates=(ast.Transition(goto="cancelled"),),
        ),
    )
    assert waiting.defer == (ast.Ref(name="AddressChanged"),)
    assert _state(flow, "shipped").final
    assert not waiting.final


def test_subscription_shape() -> None:
    flow = _example("subscription.flow.yaml")
    failed = next(e for e in flow.events if e.name == "PaymentFailed")
    assert failed.delay == ast.Duration(text="5m", millis=300_000)
    active = _state(flow, "active")
    (timer,) = active.at
    assert timer.time == ast.Call(
        function="timestamp", args=(ast.Field(target=ast.Name(name="data"), name="renews_at"),)
    )
    (candidate,) = timer.candidates
    assert candidate.goto == "active"
    assert candidate.catch == ast.Catch(goto="past_due")
    charge, set_action = candidate.actions
    assert isinstance(charge, ast.CallAction)
    assert isinstance(set_action, ast.SetAction)
    assert set_action.assignments[1] == ("failures", ast.Literal(value=0))
    past_due = _state(flow, "past_due")
    (always,) = past_due.always
    assert always.goto == "suspended"
    assert always.when is not None


def test_webhook_fanout_shape() -> None:
    flow = _example("webhook_fanout.flow.yaml")
    deliver = next(e for e in flow.effects if e.name == "deliver")
    assert deliver.retry is not None
    assert deliver.retry.retry_on == ("timeout", "5xx", "429")
    assert deliver.retry.jitter is True
    assert isinstance(deliver.kind, ast.HttpEffect)
    assert deliver.kind.headers == (("Content-Type", ast.Literal(value="application/json")),)
    assert deliver.kind.body == ast.Field(target=ast.Name(name="args"), name="payload")
    (clause,) = _state(flow, "waiting").on
    _, fan_out = clause.candidates[0].actions
    assert isinstance(fan_out, ast.CallAction)
    assert fan_out.for_each == ast.Field(target=ast.Name(name="data"), name="subscribers")
    assert fan_out.concurrency == 50


def test_values_literals_templates_and_nesting() -> None:
    flow = _load(
        _minimal(
            "  a:\n    enter:\n      - set:\n"
            "          n: 3\n          s: plain text\n          t: 'order ${ key } ok'\n"
            "          b: true\n          z: null\n          m: {k: [1, '${ data.n }']}\n"
            "          q: 'on'\n          y: yes\n"
        )
    )
    (action,) = flow.states[0].enter
    assert isinstance(action, ast.SetAction)
    values = dict(action.assignments)
    assert values["n"] == ast.Literal(value=3)
    assert values["s"] == ast.Literal(value="plain text")
    assert values["t"] == ast.Template(parts=("order ", ast.Name(name="key"), " ok"))
    assert values["b"] == ast.Literal(value=True)
    assert values["z"] == ast.Literal(value=None)
    assert values["m"] == ast.MapLit(
        entries=(
            (
                "k",
                ast.ListLit(
                    items=(
                        ast.Literal(value=1),
                        ast.Field(target=ast.Name(name="data"), name="n"),
                    )
                ),
            ),
        )
    )
    assert values["q"] == ast.Literal(value="on")
    assert values["y"] == ast.Literal(value="yes")


def test_guard_accepts_a_dollar_brace_wrapper_and_booleans() -> None:
    flow = _load(
        _minimal(
            "  a:\n    always:\n      - when: '${ data.n > 1 }'\n        goto: a\n"
            "      - when: true\n        goto: a\n"
        )
    )
    first, second = flow.states[0].always
    assert first.when == ast.Binary(
        op=">",
        left=ast.Field(target=ast.Name(name="data"), name="n"),
        right=ast.Literal(value=1),
    )
    assert second.when == ast.Literal(value=True)


def test_expression_syntax_error_points_into_the_guard() -> None:
    text = _minimal("  a:\n    always:\n      - when: data.n >\n        goto: a\n")
    flow, diagnostics = load_yaml_text(text, file="t.flow.yaml")
    assert flow is None
    assert [d.code for d in diagnostics] == ["FY005"]
    assert diagnostics[0].span.line == 7
    assert diagnostics[0].span.column >= 15


def test_template_syntax_error_points_into_the_string() -> None:
    text = _minimal("  a:\n    enter:\n      - set: {n: '${ data.n + }'}\n")
    flow, diagnostics = load_yaml_text(text, file="t.flow.yaml")
    assert flow is None
    assert [(d.code, d.span.line) for d in diagnostics] == [("FY005", 7)]


def test_duration_the_schema_admits_but_the_parser_refuses() -> None:
    text = _minimal("  a:\n    after:\n      30s1m: {goto: a}\n")
    flow, diagnostics = load_yaml_text(text, file="t.flow.yaml")
    assert flow is None
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("FY501", 7, 7)]


def test_at_timer_with_several_candidates() -> None:
    flow = _load(
        _minimal(
            "  a:\n    at:\n      - time: '${ now }'\n        candidates:\n"
            "          - {when: data.n > 1, goto: a}\n          - goto: a\n"
        )
    )
    (timer,) = flow.states[0].at
    assert len(timer.candidates) == 2


def test_signal_with_topic_and_key() -> None:
    flow = _load(
        _minimal(
            "  a: {final: true}\n",
            head="signals:\n  review:\n    topic: approvals\n    key: '${ event.id }'\n"
            "    description: a decision\n",
        )
    )
    (signal,) = flow.signals
    assert signal.topic == "approvals"
    assert signal.key == ast.Field(target=ast.Name(name="event"), name="id")
    assert signal.description == "a decision"


def test_emit_effect_with_value_and_headers() -> None:
    flow = _load(
        _minimal(
            "  a: {final: true}\n",
            head="effects:\n  out:\n    emit:\n      topic: t\n      value: {n: 1}\n"
            "      headers: {ce-type: x}\n",
        )
    )
    (effect,) = flow.effects
    assert effect.kind == ast.EmitEffect(
        topic="t",
        value=ast.MapLit(entries=(("n", ast.Literal(value=1)),)),
        headers=(("ce-type", ast.Literal(value="x")),),
    )


def test_match_with_several_values_and_headers() -> None:
    flow = _load(
        _minimal(
            "  a: {final: true}\n",
            head="events:\n  E:\n    topic: t\n    key: event.id\n"
            "    match: {type: [a, b], n: 3}\n    match_headers: {ce-type: x}\n",
        )
    )
    (event,) = flow.events
    assert event.match == (
        ast.MatchEntry(path="type", values=("a", "b")),
        ast.MatchEntry(path="n", values=(3,)),
    )
    assert event.match_headers == (ast.MatchEntry(path="ce-type", values=("x",)),)


def test_data_field_without_default() -> None:
    flow = _load(_minimal("  a: {final: true}\n", head="data:\n  n: {type: integer}\n"))
    (field,) = flow.data
    assert (field.default, field.has_default) == (None, False)
    assert field.schema.schema == {"type": "integer"}


def test_surface_follows_the_extension() -> None:
    assert surface_for("x.flow.yaml") == "yaml"
    assert surface_for("x.yml") == "yaml"
    assert surface_for("x.flow") == "dsl"


def test_unreadable_file_is_fy001(tmp_path: Path) -> None:
    flow, diagnostics = load_flow_file(tmp_path / "missing.flow.yaml")
    assert flow is None
    assert [d.code for d in diagnostics] == ["FY001"]
    bad = tmp_path / "bad.flow.yaml"
    bad.write_bytes(b"flow: \xff\n")
    _, diagnostics = load_flow_file(bad)
    assert [d.code for d in diagnostics] == ["FY001"]


def test_empty_file() -> None:
    flow, diagnostics = load_flow_text("", file="t.flow.yaml", surface="yaml")
    assert flow is None
    assert [d.code for d in diagnostics] == ["FY103"]


@pytest.mark.parametrize("name", ["order_fulfillment", "subscription", "webhook_fanout"])
def test_dsl_conversion_of_the_examples_matches(name: str) -> None:
    """The DSL surface reads the DSL printer's output back to the same AST."""
    from flowyard.dsl.dsl_printer import format_dsl

    flow = _example(f"{name}.flow.yaml")
    again, diagnostics = load_flow_text(format_dsl(flow), file="t.flow", surface="dsl")
    assert diagnostics == []
    assert again == flow


@pytest.mark.parametrize(
    ("text", "surface"),
    [
        ("flow x version 1\n", "dsl"),
        ("# comment\n\n  flow 'x y' version 1\n", "dsl"),
        ("flow: x\n", "yaml"),
        ("flow : x\n", "yaml"),
        ("version: 1\nflow: x\n", "yaml"),
        ("", "yaml"),
    ],
)
def test_sniff_surface(text: str, surface: str) -> None:
    assert sniff_surface(text) == surface


def test_decode_source_points_at_the_first_bad_byte() -> None:
    text, problem = decode_source("flow: x\nname: ça\n".encode("latin-1"), file="f")
    assert text == ""
    assert problem is not None
    assert (problem.code, problem.span.line, problem.span.column) == ("FY001", 2, 7)
    assert "not UTF-8" in problem.message and "0xE7" in problem.message
    assert decode_source("é".encode(), file="f") == ("é", None)
    assert decode_source("\ufeffflow: x\n".encode(), file="f") == ("flow: x\n", None)


def test_binary_input_says_so() -> None:
    _, problem = decode_source(bytes(range(256)), file="f")
    assert problem is not None and "binary" in problem.message


@pytest.mark.parametrize(
    ("text", "kind"), [("- flow: x\n- version: 1\n", "a list"), ("just text\n", "single value")]
)
def test_a_file_that_is_not_a_mapping_is_one_fy102(text: str, kind: str) -> None:
    flow, diagnostics = load_yaml_text(text, file="f.flow.yaml")
    assert flow is None
    (d,) = diagnostics
    assert d.code == "FY102" and kind in d.message
    assert (d.span.line, d.span.column) == (1, 1)


def test_some_other_yaml_file_is_one_diagnostic() -> None:
    flow, diagnostics = load_yaml_text("services:\n  web: {image: x}\n", file="f.yaml")
    assert flow is None
    (d,) = diagnostics
    assert d.code == "FY103" and "not a flow" in d.message


def test_misspelt_top_level_keys_still_get_did_you_mean() -> None:
    _, diagnostics = load_yaml_text("flw: x\nversoin: 1\n", file="f.yaml")
    assert "did you mean 'flow'?" in [d.hint for d in diagnostics]
