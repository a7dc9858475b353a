"""Mangled YAML never raises: it loads, or it returns diagnostics that point into the file."""

from __future__ import annotations

from pathlib import Path

from flowyard.dsl.diagnostics import CODES, has_errors
from flowyard.dsl.load import load_yaml_text
from flowyard.dsl.yaml_printer import format_yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = [
    p.read_text() for p in sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
]
SNIPPETS = [
    ":", ": ", "-", "- ", " ", "  ", "\n", "\t", "#", "[", "]", "{", "}", ",", "'", '"', "&a ",
    "*a", "!x ", "|", ">", "?", "%", "@", "`", "${", "${ }", "}", "goto", "when: ", "on",
    "yes", "1", "0x", ".inf", "null", "~", "\x00", "\x85", "é", "\ufeff", "---\n", "...",
]  # fmt: skip

edit = st.tuples(
    st.floats(min_value=0, max_value=1, exclude_max=True),  # where, as a fraction of the text
    st.integers(min_value=0, max_value=12),  # how many characters to delete there
    st.sampled_from(["", *SNIPPETS]) | st.text(max_size=4),  # what to insert
)


def _mangle(text: str, edits: list[tuple[float, int, str]]) -> str:
    for where, delete, insert in edits:
        at = int(where * len(text)) if text else 0
        text = text[:at] + insert + text[at + delete :]
    return text


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(EXAMPLES), st.lists(edit, min_size=1, max_size=4))
def test_mangled_examples_load_or_explain_themselves(
    source: str, edits: list[tuple[float, int, str]]
) -> None:
    text = _mangle(source, edits)
    flow, diagnostics = load_yaml_text(text, file="m.flow.yaml")
    line_count = text.count("\n") + 1
    for d in diagnostics:
        assert d.code in CODES
        assert d.message
        assert d.hint
        assert 1 <= d.span.line <= line_count + 1, (d, line_count)
        assert d.span.column >= 1
        assert d.span.file == "m.flow.yaml"
    if has_errors(diagnostics):
        assert flow is None
    else:
        assert flow is not None
        again, again_diagnostics = load_yaml_text(format_yaml(flow), file="again.flow.yaml")
        assert again_diagnostics == []
        assert again == flow
