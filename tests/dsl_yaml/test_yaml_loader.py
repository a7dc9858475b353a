"""The YAML loader: core-schema scalars, located nodes, and the YAML it refuses."""

from __future__ import annotations

import math

import pytest
from flowyard.dsl.yaml_loader import YMap, YScalar, YSeq, compose, resolve_plain


def _load(text: str) -> YMap:
    tree, diagnostics = compose(text, file="t.yaml")
    assert diagnostics == []
    assert isinstance(tree, YMap)
    return tree


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("y", "y"),
        ("n", "n"),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("12", 12),
        ("-3", -3),
        ("0x1f", 31),
        ("0o17", 15),
        ("012", 12),
        ("1_000", "1_000"),
        ("1.5", 1.5),
        ("-.5e3", -500.0),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("30m", "30m"),
        ("2024-01-01", "2024-01-01"),
        ("event.total", "event.total"),
    ],
)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    assert resolve_plain(text) == value
    assert type(resolve_plain(text)) is type(value)


def test_nan_is_a_float() -> None:
    result = resolve_plain(".nan")
    assert isinstance(result, float)
    assert math.isnan(result)


def test_on_yes_off_stay_strings_in_a_document() -> None:
    tree = _load("on:\n  a: yes\n  b: off\n  c: 'true'\n  d: true\n")
    assert tree.value == {"on": {"a": "yes", "b": "off", "c": "true", "d": True}}
    key, _ = tree.entries[0]
    assert key.value == "on"


def test_quoted_scalars_are_always_strings() -> None:
    tree = _load("a: '12'\nb: \"null\"\nc: '~'\nd: \"0x10\"\n")
    assert tree.value == {"a": "12", "b": "null", "c": "~", "d": "0x10"}
    assert all(isinstance(v, YScalar) and not v.plain for _, v in tree.entries)


def test_every_key_and_value_has_its_position() -> None:
    tree = _load("flow: x\nstates:\n  new:\n    final: true\n")
    states = tree.get("states")
    assert isinstance(states, YMap)
    key, new = states.entries[0]
    assert (key.span.line, key.span.column, key.span.end_column) == (3, 3, 6)
    assert isinstance(new, YMap)
    final_key, final = new.entries[0]
    assert (final_key.span.line, final_key.span.column) == (4, 5)
    assert (final.span.line, final.span.column, final.span.end_column) == (4, 12, 16)
    assert final.span.file == "t.yaml"


def test_sequences_keep_items_and_plain_values() -> None:
    tree = _load("defer: [A, B]\n")
    defer = tree.get("defer")
    assert isinstance(defer, YSeq)
    assert defer.value == ["A", "B"]
    assert [item.span.column for item in defer.items] == [9, 12]


def test_duplicate_key_points_at_the_second_and_names_the_first_line() -> None:
    _, diagnostics = compose("a: 1\nb: 2\na: 3\n", file="t.yaml")
    assert [d.code for d in diagnostics] == ["FY003"]
    (d,) = diagnostics
    assert (d.span.line, d.span.column) == (3, 1)
    assert "'a'" in d.message
    assert "line 1" in d.message


def test_nested_duplicate_key() -> None:
    _, diagnostics = compose("s:\n  x:\n    goto: a\n    goto: b\n", file="t.yaml")
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("FY003", 4, 5)]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: &x 1\nb: *x\n", 2, 4),  # reported at the alias, not also at the anchor
        ("a: &x 1\nb: 2\n", 1, 4),  # an anchor nothing refers to
        ("a: [&x 1]\n", 1, 5),
        ("a: &x\n  b: *x\n", 2, 6),  # an alias inside its own anchor
        ("a: !custom 1\n", 1, 4),
        ("a: !!int 1\n", 1, 4),
        ("1: x\n", 1, 1),
        ("true: x\n", 1, 1),
        ("? [a, b]\n: x\n", 1, 3),
    ],
)
def test_unsupported_yaml_features(text: str, line: int, column: int) -> None:
    _, diagnostics = compose(text, file="t.yaml")
    assert [d.code for d in diagnostics] == ["FY006"]
    assert (diagnostics[0].span.line, diagnostics[0].span.column) == (line, column)
    assert diagnostics[0].hint


def test_operators_are_not_taken_for_anchors_or_aliases() -> None:
    tree, diagnostics = compose("when: a && b\nv: n * 2\nd: '- *x &y'\n", file="t.yaml")
    assert diagnostics == []
    assert isinstance(tree, YMap)
    assert tree.value == {"when": "a && b", "v": "n * 2", "d": "- *x &y"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: .nan\n", "not a number"),
        ("a: -.Inf\n", "infinity"),
        ("a: 1e400\n", "too large"),
        ("a: [99999999999999999999]\n", "does not fit in 64 bits"),
        ("a: {b: -9223372036854775809}\n", "does not fit in 64 bits"),
    ],
)
def test_numbers_json_cannot_hold_are_fy104_at_the_value(text: str, message: str) -> None:
    _, diagnostics = compose(text, file="t.yaml")
    (d,) = diagnostics
    assert d.code == "FY104"
    assert message in d.message
    assert d.span.line == 1 and d.span.column > 3
    assert d.hint


def test_the_64_bit_bounds_and_quoted_specials_are_accepted() -> None:
    text = "a: 9223372036854775807\nb: -9223372036854775808\nc: '.nan'\nd: 1.5e300\n"
    tree, diagnostics = compose(text, file="t.yaml")
    assert diagnostics == []
    assert tree is not None
    assert tree.value == {"a": 2**63 - 1, "b": -(2**63), "c": ".nan", "d": 1.5e300}


def test_key_indented_too_far_is_one_clear_diagnostic() -> None:
    text = "flow: x\nstates:\n  new:\n    final: true\n     goto: a\n"
    tree, diagnostics = compose(text, file="t.yaml")
    assert tree is None
    assert [d.code for d in diagnostics] == ["FY002"]
    (d,) = diagnostics
    assert d.span.line == 5
    assert "indent" in d.message
    assert d.hint


def test_key_dedented_into_no_block_is_one_clear_diagnostic() -> None:
    text = "flow: x\nstates:\n  new:\n    final: true\n   old: {}\n"
    _, diagnostics = compose(text, file="t.yaml")
    assert [(d.code, d.span.line) for d in diagnostics] == [("FY002", 5)]
    assert "indent" in diagnostics[0].message


def test_tab_indentation_is_explained() -> None:
    _, diagnostics = compose("a:\n\tb: 1\n", file="t.yaml")
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("FY002", 2, 1)]
    assert "tab" in diagnostics[0].message


def test_unclosed_flow_sequence_points_at_the_end() -> None:
    _, diagnostics = compose("a: [1, 2\n", file="t.yaml")
    assert [d.code for d in diagnostics] == ["FY002"]
    assert diagnostics[0].span.line == 1


def test_control_character_position_counts_characters_not_bytes() -> None:
    _, diagnostics = compose('a: "éé \x07"\n', file="t.yaml")
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("FY002", 1, 8)]


def test_two_documents_are_refused() -> None:
    _, diagnostics = compose("a: 1\n---\nb: 2\n", file="t.yaml")
    assert [(d.code, d.span.line) for d in diagnostics] == [("FY002", 2)]
    assert "more than one" in diagnostics[0].message


def test_empty_document_is_none_without_diagnostics() -> None:
    assert compose("# only a comment\n", file="t.yaml") == (None, [])


def test_a_quote_left_open_is_reported_where_it_opened() -> None:
    text = 'a:\n  url: "http://x\n  body: {order: "${ key }"}\n'
    _, diagnostics = compose(text, file="t.yaml")
    (d,) = diagnostics
    assert d.code == "FY002"
    assert (d.span.line, d.span.column) == (2, 8)
    assert "not closed" in d.message


def test_a_quote_never_closed_is_reported_where_it_opened() -> None:
    _, diagnostics = compose('flow: "abc\nversion: 1\n', file="t.yaml")
    (d,) = diagnostics
    assert (d.span.line, d.span.column) == (1, 7)
    assert "never closed" in d.message


def test_a_multi_line_quoted_string_is_still_fine() -> None:
    tree, diagnostics = compose('a: "one\n  two"\nb: 1\n', file="t.yaml")
    assert diagnostics == []
    assert tree is not None and tree.value == {"a": "one two", "b": 1}


def test_an_unquoted_template_in_braces_says_to_quote_it() -> None:
    _, diagnostics = compose("with: {amount: ${ event.amount }}\n", file="t.yaml")
    (d,) = diagnostics
    assert d.code == "FY002"
    assert (d.span.line, d.span.column, d.span.end_column) == (1, 16, 33)
    assert d.hint == 'write "${ event.amount }"'


def test_a_number_key_out_of_range_is_one_diagnostic() -> None:
    _, diagnostics = compose("99999999999999999999: x\n.nan: y\n", file="t.yaml")
    assert [(d.code, d.span.line) for d in diagnostics] == [("FY006", 1), ("FY006", 2)]


def test_a_value_starting_with_a_quote_says_to_quote_it_whole() -> None:
    _, diagnostics = compose("a:\n  when: 'x' in event.tags\n", file="t.yaml")
    (d,) = diagnostics
    assert d.code == "FY002"
    assert (d.span.line, d.span.column) == (2, 9)
    assert d.hint == "quote the whole value: \"'x' in event.tags\""


def test_libyaml_reads_the_yaml_when_pyyaml_has_it(yaml_parser: str) -> None:
    import yaml
    from flowyard.dsl import yaml_loader

    assert yaml_loader.use_libyaml == (yaml_parser == "libyaml")
    if yaml_parser == "libyaml":
        assert yaml.__with_libyaml__
        assert issubclass(yaml_loader._Loader, yaml_loader._CParser)
