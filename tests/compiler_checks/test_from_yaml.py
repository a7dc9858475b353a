"""The checks on flows read from source: real spans, and the examples (both surfaces) stay clean."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from flowyard.compiler.checks import check_flow
from flowyard.dsl.diagnostics import Diagnostic
from flowyard.dsl.load import load_flow_file, load_flow_text, load_yaml_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    *sorted((ROOT / "examples").glob("*.flow.yaml")),
    *sorted((ROOT / "examples").glob("*.flow")),  # the DSL surface
]


def check_text(text: str) -> list[Diagnostic]:
    flow, diagnostics = load_yaml_text(text, file="t.flow.yaml")
    assert flow is not None, [str(d) for d in diagnostics]
    return check_flow(flow)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_examples_are_clean(path: Path) -> None:
    flow, diagnostics = load_flow_file(path)
    assert flow is not None, [str(d) for d in diagnostics]
    assert [f"{d.code} {d.span.line}:{d.span.column} {d.message}" for d in check_flow(flow)] == []


def test_the_normative_examples_are_present() -> None:
    names = {p.name for p in EXAMPLES}
    for name in ("order_fulfillment", "subscription", "webhook_fanout"):
        assert f"{name}.flow.yaml" in names


FLOW = """\
flow: t
version: 1
events:
  Go:
    topic: t
    key: event.id
    schema:
      type: object
      properties:
        id: {type: string}
        amount: {type: number}
effects:
  work:
    http:
      method: POST
      url: "${ env.URL + callback.url }"
data:
  total: {type: number, default: 0}
initial: start
states:
  start:
    on:
      Go:
        - when: event.amount == 'x'
          goto: dnoe
        - goto: done
    after:
      1h:
        when: event.amount > 1
        do:
          - call: work
            with: {a: "${ data.totl }"}
        goto: done
  done:
    final: true
"""


def test_spans_point_at_the_offending_text() -> None:
    got = [(d.code, *d.span.to_json()) for d in check_text(FLOW)]
    assert got == [
        ("FY505", 16, 26, 16, 34),  # callback.url
        ("FY402", 24, 17, 24, 36),  # event.amount == 'x'
        ("FY202", 25, 17, 25, 21),  # dnoe
        ("FY401", 29, 15, 29, 20),  # event, in a timer
        ("FY206", 32, 27, 32, 36),  # data.totl
    ]


def test_messages_read_well() -> None:
    messages = {d.code: (d.message, d.hint) for d in check_text(FLOW)}
    assert messages["FY402"][0] == (
        "cannot compare number and string: event.amount is a number, 'x' is a string"
    )
    assert messages["FY202"] == ("`goto` names an unknown state 'dnoe'", "did you mean 'done'?")
    assert messages["FY206"] == ("data field `totl` is not declared", "did you mean `total`?")


def test_unused_declarations_are_warnings_only() -> None:
    text = FLOW.replace('      url: "${ env.URL + callback.url }"', "      url: x").replace(
        '          - call: work\n            with: {a: "${ data.totl }"}\n', "          []\n"
    )
    text = text.replace("        when: event.amount > 1\n", "").replace("goto: dnoe", "goto: done")
    text = text.replace("event.amount == 'x'", "event.amount == 1.5")
    diags = check_text(text)
    assert [(d.code, d.message) for d in diags] == [
        ("FY307", "effect 'work' is declared but never used")
    ]


RICH = """\
flow: t
version: 1
events:
  Go:
    topic: t
    key: event.id
    match: {kind: [a, b]}
    match_headers: {source: shop}
    schema:
      type: object
      required: [id]
      properties:
        id: {type: string}
        kind: {type: string}
        total: {type: number}
        tags: {type: array, items: {type: string}}
        items: {type: array, items: {type: object}}
        approved: {type: [boolean, "null"]}
signals:
  poke:
    topic: pokes
    key: event.id
effects:
  e:
    emit: {topic: out, key: "${ key }", value: {total: "${ args.total }", at: "${ args.at }"}}
data:
  total: {type: number, default: 0}
  label: {type: string, default: ""}
  renews_at: {type: string, default: "2026-01-01T00:00:00Z"}
  count: {type: integer, default: 0}
  list: {type: array, items: {type: string}, default: []}
initial: start
states:
  start:
    on:
      Go:
        - when: size(event.items) > 0 && 'vip' in event.tags && meta.headers['x'] == 'y'
          do:
            - set:
                total: "${ event.total * 1.1 }"
                label: "${ event.total > 10 ? 'big' : 'small' }"
                count: "${ int(event.total) % 2 }"
                list: "${ event.tags + ['x'] }"
            - call: e
              for_each: "${ event.items }"
              concurrency: 3
              with: {total: "${ -event.total }", at: "${ string(now) }"}
          goto: later
        - when: has(event.coupon) || event.approved == null || event.approved
          goto: later
        - when: now > timestamp(data.renews_at) && duration('1h') > duration('PT30M')
          goto: later
        - goto: later
      poke: {goto: later}
  later:
    at:
      - time: "${ timestamp(data.renews_at) + duration('720h') }"
        goto: end
    always:
      - when: data.count >= 3 && state == 'later' && key != ''
        goto: end
    after:
      1d: {goto: end}
  end: {final: true}
"""


def test_many_valid_expressions_raise_nothing() -> None:
    assert [f"{d.code} {d.span.line}: {d.message}" for d in check_text(RICH)] == []


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("size(event.items) > 0", "size(event.total) > 0", "FY404"),
        ("'vip' in event.tags", "'vip' in event.kind", "FY402"),
        ("int(event.total) % 2", "event.kind", "FY508"),
        ('for_each: "${ event.items }"', 'for_each: "${ event.kind }"', "FY503"),
        ("key != ''", "event.id != ''", "FY401"),
        ('time: "${ timestamp(', 'time: "${ size(', "FY402"),
        ("value: {total:", "value: {data:", None),
        ('"${ args.at }"', '"${ data.total }"', "FY505"),
        ("duration('PT30M')", "duration('30 min')", "FY501"),
    ],
)
def test_one_mistake_one_diagnostic(old: str, new: str, code: str | None) -> None:
    assert old in RICH
    diags = check_text(RICH.replace(old, new))
    assert [d.code for d in diags] == ([code] if code else [])


DSL_PRECISE = """\
flow f version 1
event E { topic "t" key event.id }
effect e {
  python "a.b:c"
  retry attempts 0 retry_on [timeout, eror]
}
data n: {type: "integer"} = 0
initial s
state s {
  on E {
    set n = 1, totl = 2
    call e -> reslt
    goto s
  }
}
"""


def test_dsl_diagnostics_point_at_the_word_not_the_whole_clause() -> None:
    from flowyard.dsl.dsl_parser import parse_dsl

    flow, diagnostics = parse_dsl(DSL_PRECISE, file="t.flow")
    assert flow is not None, diagnostics
    found = {
        (d.code, d.span.line, d.span.column, d.span.end_column)
        for d in check_flow(flow)
        if d.is_error
    }
    assert found == {
        ("FY502", 5, 9, 19),  # attempts 0
        ("FY502", 5, 39, 43),  # eror
        ("FY206", 11, 16, 20),  # totl
        ("FY208", 12, 15, 20),  # reslt
    }


@pytest.mark.parametrize(
    ("guard", "code", "hint"),
    [
        ("data.n > 0 || True", "FY401", "did you mean `true`?"),
        ("data.n != None", "FY401", "did you mean `null`?"),
        ("len(data.tags) > 0", "FY404", "did you mean size()?"),
    ],
)
def test_python_habits_get_the_word_this_language_uses(guard: str, code: str, hint: str) -> None:
    text = (
        "flow: f\nversion: 1\ndata:\n  n: {type: integer, default: 0}\n"
        "  tags: {type: array, default: []}\ninitial: a\nstates:\n  a:\n    always:\n"
        f"      - when: {guard}\n        goto: b\n  b: {{final: true}}\n"
    )
    (d,) = [d for d in check_text(text) if d.is_error]
    assert (d.code, d.hint) == (code, hint)


BAD_SCHEMAS_YAML = """\
flow: t
version: 1
key: id
events:
  Go:
    topic: t
    key: event.id
    schema:
      type: object
      properties:
        id: {type: strin}
        n: {minimum: "x"}
data:
  c: {type: intger, default: 0}
initial: a
states:
  a:
    on:
      Go: {goto: b}
  b: {final: true}
"""

BAD_SCHEMAS_DSL = """\
flow t version 1
key id

event Go {
  topic "t"
  key event.id
  schema {type: "object", properties: {id: {type: "strin"}, n: {minimum: "x"}}}
}

data c: {type: "intger"} = 0

initial a

state a {
  on Go { goto b }
}

state b final
"""


@pytest.mark.parametrize(
    ("surface", "text", "places"),
    [
        ("yaml", BAD_SCHEMAS_YAML, [(11, 20), (12, 22), (14, 13)]),
        ("dsl", BAD_SCHEMAS_DSL, [(7, 51), (7, 74), (10, 16)]),
    ],
)
def test_every_schema_problem_is_reported_where_it_is_written(
    surface: Literal["yaml", "dsl"], text: str, places: list[tuple[int, int]]
) -> None:
    name = "t.flow.yaml" if surface == "yaml" else "t.flow"
    flow, diagnostics = load_flow_text(text, file=name, surface=surface)
    assert flow is not None, [str(d) for d in diagnostics]
    found = [d for d in check_flow(flow) if d.code == "FY105"]
    assert [(d.span.line, d.span.column) for d in found] == places
    assert "'strin' is not a JSON Schema type (at properties/id/type)" in found[0].message
    assert found[0].hint.startswith("did you mean 'string'?")
    assert "'x' is not of type 'number' (at properties/n/minimum)" in found[1].message
    assert found[2].hint.startswith("did you mean 'integer'?")
