"""Indentation mistakes are reported on the line that was moved, in our words (FY002)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowyard.dsl.load import load_flow_text

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "examples" / "order_fulfillment.flow.yaml"
).read_text(encoding="utf-8")


def moved(line: str, to_indent: int) -> str:
    """The example with `line` (written once in it) moved to another indentation."""
    assert EXAMPLE.count(line + "\n") == 1
    return EXAMPLE.replace(line + "\n", " " * to_indent + line.lstrip() + "\n")


def only_error(text: str) -> tuple[int, int, str, str]:
    flow, diagnostics = load_flow_text(text, file="f.flow.yaml", surface="yaml")
    assert flow is None
    (d,) = diagnostics
    assert d.code == "FY002" and d.hint is not None
    return d.span.line, d.span.column, d.message, d.hint


def line_of(text: str) -> int:
    return EXAMPLE.splitlines().index(text) + 1


def test_a_goto_moved_two_spaces_left_is_reported_on_its_own_line() -> None:
    goto = "        goto: awaiting_payment"
    line, column, message, hint = only_error(moved(goto, 6))
    assert (line, column) == (line_of(goto), 7)
    assert message.startswith("'goto' is indented less than the keys around it ('do' on line")
    assert hint == "indent 'goto' to column 9, like 'do'"


@pytest.mark.parametrize(
    ("goto", "to_indent", "beside", "item_column", "item_above"),
    [
        ("        goto: awaiting_payment", 10, "like 'do' on line", 13, 3),  # too deep
        ("          goto: in_review", 8, "like 'PaymentConfirmed' on line", 11, 1),  # too shallow
    ],
)
def test_a_key_at_the_column_of_list_items_names_both_ways_out(
    goto: str, to_indent: int, beside: str, item_column: int, item_above: int
) -> None:
    line, column, message, hint = only_error(moved(goto, to_indent))
    assert (line, column) == (line_of(goto), to_indent + 1)
    assert message.startswith("'goto' is at the column of the list's '- ' marks")
    assert "while parsing" not in hint and beside in hint
    assert hint.endswith(
        f"indent it to column {item_column} to make it part of the item on line {line - item_above}"
    )


def test_unclear_cases_keep_the_explained_parser_message() -> None:
    text = "flow: x\nversion: 1\nstates:\n  a:\n    final: true\n      extra: 1\n"
    line, _, message, _ = only_error(text)
    assert line == 6 and "indented wrongly" in message
