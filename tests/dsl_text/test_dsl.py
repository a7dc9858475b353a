"""The .flow DSL: parsing, equivalence with the YAML examples, printing, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowyard.dsl import ast
from flowyard.dsl.diagnostics import CODES
from flowyard.dsl.dsl_parser import parse_dsl
from flowyard.dsl.dsl_printer import format_dsl
from flowyard.dsl.load import load_flow_file
from flowyard.dsl.spans import Span
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHARED = ROOT / "examples"
EXAMPLES = ["order_fulfillment", "subscription", "webhook_fanout"]
KITCHEN_SINK = HERE / "kitchen_sink.flow"


def parse_ok(text: str, file: str = "t.flow") -> ast.Flow:
    flow, diagnostics = parse_dsl(text, file=file)
    assert diagnostics == []
    assert flow is not None
    return flow


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_equal_their_yaml_twins(name: str) -> None:
    yaml_flow, yaml_diagnostics = load_flow_file(SHARED / f"{name}.flow.yaml")
    assert yaml_diagnostics == []
    dsl_flow = parse_ok((ROOT / "examples" / f"{name}.flow").read_text())
    assert dsl_flow == yaml_flow


@pytest.mark.parametrize(
    "path", [*(ROOT / "examples" / f"{n}.flow" for n in EXAMPLES), KITCHEN_SINK]
)
def test_format_then_parse_is_identity(path: Path) -> None:
    flow = parse_ok(path.read_text())
    text = format_dsl(flow)
    assert parse_ok(text) == flow
    assert format_dsl(parse_ok(text)) == text  # canonical: printing is idempotent


def test_yaml_examples_print_as_dsl() -> None:
    for name in EXAMPLES:
        flow, _ = load_flow_file(SHARED / f"{name}.flow.yaml")
        assert flow is not None
        assert parse_ok(format_dsl(flow)) == flow


def test_kitchen_sink_fields() -> None:
    flow = parse_ok(KITCHEN_SINK.read_text())
    assert (flow.name, flow.version, flow.key) == ("kitchen-sink", 3, "account_id")
    assert flow.description == 'Line one.\nLine "two".'
    created = flow.events[0]
    assert created.match == (
        ast.MatchEntry(path="type", values=("account.created", "account.imported")),
        ast.MatchEntry(path="meta.version", values=(2,)),
        ast.MatchEntry(path="live", values=(True,)),
    )
    assert created.match_headers[1] == ast.MatchEntry(path="x-null", values=(None,))
    assert created.delay == ast.Duration(text="PT30M", millis=1_800_000)
    assert created.schema is not None and created.schema.schema["minimum"] == -1.5
    assert flow.signals[1] == ast.SignalDecl(name="poke")

    load, notify, announce = flow.effects
    assert load.kind == ast.PythonEffect(target="examples.accounts:load")
    assert load.retry == ast.RetryPolicy(
        attempts=2,
        backoff=ast.Duration(text="100ms", millis=100),
        max_backoff=ast.Duration(text="1s", millis=1000),
        jitter=False,
        retry_on=("timeout", "error", "4xx", "503"),
    )
    assert isinstance(notify.kind, ast.HttpEffect) and notify.kind.method == "PATCH"
    assert isinstance(notify.kind.url, ast.Template)
    assert notify.retry == ast.RetryPolicy()
    assert notify.callback_timeout == ast.Duration(text="1d", millis=86_400_000)
    assert isinstance(announce.kind, ast.EmitEffect) and announce.kind.value is not None

    counter, notes, profile, untyped, last_error = flow.data
    assert (counter.schema.schema, counter.default, counter.has_default) == (
        {"type": "integer", "minimum": 0},
        0,
        True,
    )
    assert (notes.schema.schema, notes.default, notes.has_default) == ({}, [], True)
    assert profile.default == {"name": "", "tags": ["a", "b"], "nested": {"x": None}}
    assert (untyped.has_default, last_error.has_default) == (False, False)

    new, active, closed = flow.states
    assert flow.initial == new.name == "new-account"
    created_on = new.on[0]
    assert [c.when is None for c in created_on.candidates] == [False, True, False]
    first = created_on.candidates[0]
    assert first.catch is not None and first.catch.goto == "closed"
    assert len(first.catch.actions) == 2
    assert new.on[1] == ast.OnClause(trigger="poke", candidates=(ast.Transition(),))
    # Consecutive `on approve` clauses are one trigger with two candidates.
    assert [c.trigger for c in new.on] == ["Created", "poke", "Closed", "approve"]
    assert new.on[2].candidates == ()  # `ignore`
    assert len(new.on[3].candidates) == 2
    assert active.after[2].candidates == ()
    call = active.at[0].candidates[0].actions[0]
    assert isinstance(call, ast.CallAction)
    assert (call.effect, call.concurrency, call.result) == ("notify", 4, "notes")
    assert call.for_each == ast.Field(target=ast.Name(name="data"), name="notes")
    assert active.at[1].time == ast.Literal(value="2030-01-01T00:00:00Z")
    assert len(active.always) == 2
    assert [r.name for r in active.defer] == ["Created", "approve"]
    assert closed.final and len(closed.enter) == 1


def test_spans_point_into_the_file() -> None:
    text = (ROOT / "examples" / "order_fulfillment.flow").read_text()
    flow = parse_ok(text, file="of.flow")
    lines = text.splitlines()

    def at(span: Span) -> str:
        assert span.file == "of.flow" and span.line == span.end_line
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]

    event = flow.events[0]
    assert at(event.name_span) == "OrderPlaced"
    assert at(event.key.span) == "event.order_id"
    paid = next(s for s in flow.states if s.name == "awaiting_payment")
    assert at(paid.name_span) == "awaiting_payment"
    guard = paid.on[0].candidates[0].when
    assert guard is not None
    assert at(guard.span) == "event.amount >= data.total && data.total > 1000"
    assert at(paid.on[0].candidates[1].goto_span) == "paid"
    assert at(paid.defer[0].span) == "AddressChanged"
    assert at(flow.initial_span) == "new"


BAD = [
    ("flow a version 1\nevnt X {}\n", "FY004", (2, 1), "did you mean 'event'"),
    ("flow a version 1\ninitial s\nstate s {\n  on X { goto y\n", "FY004", (4, 8), "unclosed '{'"),
    ("flow a version 1\nstate s {\n  on X when a && { goto y }\n}\n", "FY004", (3, 18), "operand"),
    ("flow a version 1\nstate s {\n  goto x\n}\n", "FY004", (3, 3), "unexpected 'goto'"),
    ("flow a version 1\ndescription 'abc\n", "FY004", (2, 13), "unterminated string"),
    ("flow a\n", "FY004", (1, 7), "unexpected end"),
    ("", "FY103", (1, 1), "the file is empty"),
    ("# only a comment\n\n", "FY103", (1, 1), "the file is empty"),
    ("flow a version 0\n", "FY104", (1, 16), "at least 1"),
    ("flow a version 1\ninitial s\nstate s { on X goto s }\n", "FY004", (3, 16), "inside '{ }'"),
    (
        "flow a version 1\ninitial s\nstate s { final }\n",
        "FY004",
        (3, 11),
        "after the state's name",
    ),
    ("flow a version 1\ndata n: number = 0\n", "FY004", (2, 9), "schema is a map"),
    ("flow a version 1\nevent E { topic: 't' }\n", "FY004", (2, 16), "no ':' after 'topic'"),
    ("flow a version 1\neffect e { python a.b:c }\n", "FY004", (2, 19), "expected a string"),
    ("flow a version 1\ninitial s\nstate s final\n}\n", "FY004", (4, 1), "closes nothing"),
    ("flow a version 1\nevent E { topic orders }\n", "FY004", (2, 17), "expected a string"),
    ("flow a version 99999999999999999999\n", "FY104", (1, 16), "64 bits"),
    ("flow: a\nversion: 1\n", "FY004", (1, 5), "looks like YAML"),
    (
        "flow a version 1\ninitial s\nstate s { always when 1 = 1 { goto s } }\n",
        "FY004",
        (3, 25),
        "'=' is not a comparison",
    ),
    (
        "flow a version 1\ninitial s\nstate s { after 5 minutes { goto s } }\n",
        "FY501",
        (3, 17),
        "'5 minutes'",
    ),
    (
        "flow a version 1\ninitial s\nstate s {\n  on X { goto s\n  on Y { goto s }\n}\n",
        "FY004",
        (5, 3),
        "missing '}' before 'on'",
    ),
    ("flow a version 1\nevent X { key event.id }\ninitial s\n", "FY103", (2, 7), "no 'topic'"),
    ("flow a version 1\nevent X { topic 't' }\ninitial s\n", "FY103", (2, 7), "no 'key'"),
    ("flow a version 1\nstate s\n", "FY103", (1, 1), "no 'initial'"),
    ("flow a version 1\ninitial s\nstate s { after 5x {} }\n", "FY501", (3, 17), "'5x'"),
    ("flow a version 1\ninitial s\ninitial t\n", "FY004", (3, 1), "given twice"),
    (
        "flow a version 1\nevent X { topic 't' key k schema {a: b} }\ninitial s\n",
        "FY104",
        (2, 38),
        "constant",
    ),
    (
        "flow a version 1\ninitial s\nstate s { enter { goto s } }\n",
        "FY004",
        (3, 24),
        "'goto' is not allowed",
    ),
    (
        "flow a version 1\ninitial s\nstate s { exit { catch {} } }\n",
        "FY004",
        (3, 18),
        "'catch' is not allowed",
    ),
    (
        "flow a version 1\neffect e { emit 't' body 1 }\ninitial s\n",
        "FY506",
        (2, 21),
        "'body' does not apply",
    ),
    (
        "flow a version 1\neffect e { python 'a:b' emit 't' }\ninitial s\n",
        "FY506",
        (2, 25),
        "more than one kind",
    ),
    (
        "flow a version 1\neffect e { timeout 1s }\ninitial s\n",
        "FY103",
        (2, 8),
        "no 'python, http or emit'",
    ),
    (
        "flow a version 1\nevent X { topic 't' key k match {a: [[1]]} }\ninitial s\n",
        "FY507",
        (2, 34),
        "match values",
    ),
    ("flow a version 1\ndata x: {default: 1} = 2\ninitial s\n", "FY104", (2, 9), "default"),
    (
        "flow a version 1\ninitial s\nstate s { on A {} on B {} on A {} }\n",
        "FY201",
        (3, 30),
        "'on A' appears twice",
    ),
    (
        "flow a version 1\ninitial s\nstate s { on A { set x = 'a\\q' } }\n",
        "FY004",
        (3, 28),
        "unknown escape",
    ),
]


@pytest.mark.parametrize(("text", "code", "where", "message"), BAD)
def test_errors(text: str, code: str, where: tuple[int, int], message: str) -> None:
    flow, diagnostics = parse_dsl(text, file="bad.flow")
    assert flow is None
    assert diagnostics, "expected a diagnostic"
    d = diagnostics[0]
    assert (d.code, (d.span.line, d.span.column)) == (code, where), d
    assert message in d.message
    assert d.hint and d.span.file == "bad.flow"
    assert all(x.code in CODES for x in diagnostics)


def test_default_in_schema_moves_out() -> None:
    flow = parse_ok("flow a version 1\ndata x: {type: 'number', default: 1}\ninitial s\n")
    assert flow.data[0] == ast.DataField(
        name="x", schema=ast.SchemaDecl(schema={"type": "number"}), default=1, has_default=True
    )


def test_comments_and_layout_are_free() -> None:
    flow = parse_ok(
        "flow a version 1 # trailing\n# a whole line\ninitial s state s final\n"
        "event E{topic 't' key\n  event.id}"
    )
    assert flow.events[0].key == ast.Field(target=ast.Name(name="event"), name="id")


_SOURCE = (ROOT / "examples" / "order_fulfillment.flow").read_text()
_PIECES = ["{", "}", "(", ")", "[", "]", '"', "'", "`", "${", ":", ",", "->", "when", "on", "goto",
           "state", "event", "#", "\n", " ", "&&", "1", "-", "x", "5m", "PT", "\\"]  # fmt: skip


@st.composite
def mangled(draw: st.DrawFn) -> str:
    text = _SOURCE
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = min(len(text), start + draw(st.integers(0, 40)))
        insert = "".join(draw(st.lists(st.sampled_from(_PIECES), max_size=3)))
        text = text[:start] + insert + text[end:]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_text_never_raises(text: str) -> None:
    flow, diagnostics = parse_dsl(text, file="m.flow")
    errors = [d for d in diagnostics if d.is_error]
    assert (flow is None) == bool(errors)
    for d in diagnostics:
        assert d.code in CODES
        assert d.hint
        assert 1 <= d.span.line <= text.count("\n") + 2


def test_a_byte_order_mark_is_ignored() -> None:
    flow, diagnostics = parse_dsl("\ufeffflow a version 1\ninitial s\nstate s final\n", file="f")
    assert diagnostics == []
    assert flow is not None and flow.name == "a"
