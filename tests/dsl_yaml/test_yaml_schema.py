"""Schema errors become one diagnostic per problem, at the key or value the author wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowyard.dsl.diagnostics import CODES, Diagnostic
from flowyard.dsl.load import load_yaml_text
from flowyard.dsl.yaml_schema import flow_schema
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
ORDER = (ROOT / "examples" / "order_fulfillment.flow.yaml").read_text()


def _problems(text: str) -> list[Diagnostic]:
    flow, diagnostics = load_yaml_text(text, file="t.flow.yaml")
    assert flow is None
    assert diagnostics
    for d in diagnostics:
        assert d.code in CODES
        assert d.hint, d
    return diagnostics


def _one(text: str) -> Diagnostic:
    diagnostics = _problems(text)
    assert len(diagnostics) == 1, diagnostics
    return diagnostics[0]


def _mutate(old: str, new: str) -> str:
    assert ORDER.count(old) == 1, old
    return ORDER.replace(old, new)


def _line_col(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def test_the_schema_is_valid_2020_12_and_documents_everything() -> None:
    schema = flow_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            is_schema = "type" in node or "$ref" in node or "oneOf" in node
            if is_schema and "$ref" not in node:
                assert "description" in node, where
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                if key in ("properties", "$defs"):
                    for name, sub in value.items():
                        walk(sub, f"{where}/{key}/{name}")
                elif key not in ("examples", "default", "const", "enum"):
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}/{i}")

    walk(schema, "")


def test_the_schema_file_is_shipped_next_to_the_loader() -> None:
    on_disk = json.loads((ROOT / "specs" / "flow.schema.json").read_text())
    assert on_disk == flow_schema()
    assert (ROOT / "dsl" / "flow.schema.json").resolve() == (ROOT / "specs" / "flow.schema.json")


def test_misspelt_key_is_exactly_one_fy101_with_a_suggestion() -> None:
    text = _mutate("        goto: awaiting_payment", "        gotoo: awaiting_payment")
    d = _one(text)
    assert d.code == "FY101"
    assert d.message == "unknown key 'gotoo' in a transition"
    assert d.hint == "did you mean 'goto'?"
    line, column = _line_col(text, "gotoo")
    assert (d.span.line, d.span.column, d.span.end_column) == (line, column, column + 5)


def test_misspelt_required_key_is_not_also_reported_missing() -> None:
    text = _mutate("    topic: payments\n", "    topik: payments\n")
    d = _one(text)
    assert (d.code, d.hint) == ("FY101", "did you mean 'topic'?")
    assert "in an event" in d.message


def test_misspelt_action_kind_is_one_problem() -> None:
    text = ORDER.replace("          - call: reserve_stock", "          - cal: reserve_stock")
    d = _one(text)
    assert (d.code, d.hint) == ("FY101", "did you mean 'call'?")


def test_misspelt_effect_kind_is_one_problem() -> None:
    d = _one(_mutate("python: examples.shop", "pyhton: examples.shop"))
    assert (d.code, d.hint) == ("FY101", "did you mean 'python'?")


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    d = _one(_mutate("    defer: [AddressChanged]\n\n  in_review", "    zzz: 1\n\n  in_review"))
    assert d.code == "FY101"
    assert "defer" in (d.hint or "")


def test_missing_required_key_points_at_the_declaration() -> None:
    text = _mutate("    topic: payments\n", "")
    d = _one(text)
    assert d.code == "FY103"
    assert "'topic'" in d.message
    assert "PaymentConfirmed" in d.message
    assert (d.span.line, d.span.column) == _line_col(text, "PaymentConfirmed:")


def test_wrong_scalar_type_points_at_the_value() -> None:
    text = _mutate("version: 1", "version: one")
    d = _one(text)
    assert d.code == "FY102"
    assert d.message == "'version' should be an integer, not a string"
    assert (d.span.line, d.span.column) == _line_col(text, "one")


def test_list_where_a_name_belongs() -> None:
    text = _mutate("goto: awaiting_payment", "goto: [awaiting_payment]")
    d = _one(text)
    assert d.code == "FY102"
    assert "'goto'" in d.message
    assert "a list" in d.message
    assert (d.span.line, d.span.column) == _line_col(text, "[awaiting_payment]")


def test_transition_written_as_a_bare_name() -> None:
    text = _mutate(
        "      OrderCancelled:\n        goto: cancelled\n    after:\n      30m",
        "      OrderCancelled: cancelled\n    after:\n      30m",
    )
    d = _one(text)
    assert d.code == "FY102"
    assert "transition" in d.message
    assert "{" in (d.hint or "")


def test_invalid_duration_value_and_key() -> None:
    d = _one(_mutate("timeout: 30s", "timeout: 30 seconds"))
    assert d.code == "FY501"
    assert "'30 seconds'" in d.message
    text = _mutate("      30m: {goto: cancelled}", "      30q: {goto: cancelled}")
    d = _one(text)
    assert d.code == "FY501"
    assert (d.span.line, d.span.column) == _line_col(text, "30q")


def test_enum_suggests_the_right_spelling() -> None:
    d = _one(_mutate("method: POST", "method: post"))
    assert (d.code, d.hint) == ("FY104", "did you mean 'POST'?")


def test_out_of_range_value() -> None:
    d = _one(_mutate("retry: {attempts: 5,", "retry: {attempts: 0,"))
    assert d.code == "FY104"
    assert "'attempts'" in d.message


def test_two_action_kinds_in_one_action() -> None:
    text = ORDER.replace(
        "          - call: reserve_stock",
        "          - call: reserve_stock\n            set: {total: 1}",
    )
    d = _one(text)
    assert d.code == "FY104"
    assert "'set' or 'call'" in d.message


def test_call_options_on_a_set_action() -> None:
    text = _mutate(
        '          - set: {total: "${ event.total }"}',
        '          - set: {total: "${ event.total }"}\n            result: total',
    )
    d = _one(text)
    assert d.code == "FY103"
    assert "'result' needs 'call'" in d.message


def test_candidates_and_a_transition_in_one_at_timer() -> None:
    text = (
        "flow: f\nversion: 1\ninitial: a\nstates:\n  a:\n    at:\n"
        "      - time: '${ now }'\n        goto: a\n        candidates: [{goto: a}]\n"
    )
    d = _one(text)
    assert d.code == "FY104"
    assert (d.span.line, d.span.column) == _line_col(text, "candidates")


def test_not_a_mapping_at_the_top() -> None:
    d = _one("- a\n- b\n")
    assert d.code == "FY102"
    assert d.span.line == 1


def test_each_missing_top_level_key_once() -> None:
    diagnostics = _problems("flow: x\n")
    assert sorted(d.message for d in diagnostics) == [
        "the flow needs 'initial'",
        "the flow needs 'states'",
        "the flow needs 'version'",
    ]


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("version: 1", "version: 1.5", "FY102"),
        ("final: true\n\n  cancelled", "final: 'yes'\n\n  cancelled", "FY102"),
        ("defer: [AddressChanged]\n\n  in_review", "defer: AddressChanged\n\n  in_review", "FY102"),
        ("retry_on", "retry_on", "FY102"),
    ],
)
def test_wrong_types(old: str, new: str, code: str) -> None:
    if old == "retry_on":
        text = ORDER.replace("jitter: true}", "jitter: true, retry_on: [418x]}")
        d = _one(text)
        assert d.code == "FY104"
        return
    d = _one(_mutate(old, new))
    assert d.code == code


def test_names_must_be_identifiers() -> None:
    text = _mutate("  failed:\n", "  fail ed:\n")
    d = _one(text)
    assert d.code == "FY104"
    assert (d.span.line, d.span.column) == _line_col(text, "fail ed")


def test_action_written_as_a_bare_name_is_one_type_error() -> None:
    text = _mutate(
        '      - call: publish\n        with: {order_id: "${ key }", status: paid}',
        "      - publish",
    )
    d = _one(text)
    assert d.code == "FY102"
    assert d.message == "an action should be a mapping, not a string"
    assert (d.span.line, d.span.column) == _line_col(text, "publish\n    on:")


def test_effect_written_as_a_bare_target_is_one_type_error() -> None:
    d = _one(_mutate("  publish:\n    emit:", "  publish: x\n  publish2:\n    emit:"))
    assert d.code == "FY102"
