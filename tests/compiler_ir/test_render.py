"""The diagnostic renderer: snippet, caret, hint, ordering, cap, summary, JSON."""

from __future__ import annotations

import json

from flowyard.compiler.render import render_json, render_lines, render_text, source_lookup, summary
from flowyard.dsl.diagnostics import Diagnostic, Severity
from flowyard.dsl.spans import Span
from hypothesis import given, settings
from hypothesis import strategies as st

SOURCE = "flow: order\nstates:\n  new:\n    on:\n      Paid:\n        goto: shiped\n"


def diag(
    line: int,
    col: int,
    end_col: int,
    *,
    code: str = "FY202",
    message: str = "goto to unknown state 'shiped'",
    hint: str | None = "did you mean 'shipped'?",
    end_line: int | None = None,
    file: str = "order.flow.yaml",
) -> Diagnostic:
    span = Span(
        file=file,
        line=line,
        column=col,
        end_line=line if end_line is None else end_line,
        end_column=end_col,
    )
    return Diagnostic(code=code, message=message, span=span, hint=hint)


def text(*diagnostics: Diagnostic, limit: int | None = 50) -> str:
    return render_text(diagnostics, sources=source_lookup({"order.flow.yaml": SOURCE}), limit=limit)


def test_single_error_like_a_compiler() -> None:
    assert text(diag(6, 15, 21)) == (
        "order.flow.yaml:6:15: error[FY202]: goto to unknown state 'shiped'\n"
        "  |\n"
        "6 |         goto: shiped\n"
        "  |               ^^^^^^\n"
        "  = hint: did you mean 'shipped'?\n"
        "\n"
        "1 error\n"
    )


def test_gutter_grows_with_line_numbers() -> None:
    long = "\n" * 41 + "        goto: shiped\n"
    out = render_text(
        [diag(42, 15, 21)], sources=source_lookup({"order.flow.yaml": long})
    ).splitlines()
    assert out[1:5] == [
        "   |",
        "42 |         goto: shiped",
        "   |               ^^^^^^",
        "   = hint: did you mean 'shipped'?",
    ]


def test_multi_line_span_underlines_to_end_of_first_line() -> None:
    out = text(diag(5, 7, 5, end_line=6)).splitlines()
    assert out[2] == "5 |       Paid:"
    assert out[3] == "  |       ^^^^^"


def test_empty_span_still_gets_one_caret_and_no_hint_line() -> None:
    out = text(diag(2, 8, 8, hint=None)).splitlines()
    assert out[3] == "  |        ^"
    assert not any("hint" in line for line in out)


def test_sorted_deduplicated_and_summarised() -> None:
    warning = diag(3, 3, 6, code="FY302", message="state 'new' is unreachable", hint="add a goto")
    err = diag(6, 15, 21)
    out = text(err, warning, err)
    assert out.index("FY302") < out.index("FY202")
    assert out.count("error[FY202]") == 1
    assert out.rstrip().endswith("1 error, 1 warning")
    assert "warning[FY302]" in out


def test_capped_with_and_n_more() -> None:
    many = [diag(6, 15, 21, message=f"problem {n:02}") for n in range(7)]
    out = text(*many, limit=3)
    assert out.count("error[FY202]") == 3
    assert "... and 4 more\n" in out
    assert out.rstrip().endswith("7 errors")


def test_no_position_and_missing_source() -> None:
    unreadable = Diagnostic(
        code="FY001",
        message="cannot read x",
        span=Span(file="x.flow", line=0, column=0, end_line=0, end_column=0),
        hint="check the path",
    )
    missing = diag(3, 1, 2, file="/nonexistent/a.flow")
    out = render_text([unreadable, missing]).splitlines()
    assert out[0] == "/nonexistent/a.flow:3:1: error[FY202]: goto to unknown state 'shiped'"
    assert out[1] == "  = hint: did you mean 'shipped'?"
    assert out[3] == "x.flow: error[FY001]: cannot read x"


def test_roles_for_colouring() -> None:
    lines = render_lines([diag(6, 15, 21)], sources=source_lookup({"order.flow.yaml": SOURCE}))
    roles = {role for line in lines for _, role in line}
    assert {"location", "error", "gutter", "hint", "summary"} <= roles


def test_severity_override_and_summary_words() -> None:
    d = Diagnostic(code="FY202", message="m", span=diag(1, 1, 2).span, severity=Severity.WARNING)
    assert summary([d]) == "1 warning"
    assert summary([diag(1, 1, 2), diag(2, 1, 2)]) == "2 errors"
    assert summary([]) == "no problems"


def test_json_objects() -> None:
    data = json.loads(render_json([diag(6, 15, 21)]))
    assert data == [
        {
            "file": "order.flow.yaml",
            "line": 6,
            "column": 15,
            "end_line": 6,
            "end_column": 21,
            "code": "FY202",
            "severity": "error",
            "message": "goto to unknown state 'shiped'",
            "hint": "did you mean 'shipped'?",
        }
    ]


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab \t:é\n"), max_size=40),
    line=st.integers(0, 8),
    col=st.integers(0, 12),
    end_line=st.integers(0, 9),
    end_col=st.integers(0, 14),
)
def test_any_span_renders(text: str, line: int, col: int, end_line: int, end_col: int) -> None:
    span = Span(file="f.flow", line=line, column=col, end_line=end_line, end_column=end_col)
    d = Diagnostic(code="FY202", message="m", span=span, hint="h")
    out = render_text([d], sources=source_lookup({"f.flow": text}))
    assert out.startswith("f.flow")
    assert out.endswith("1 error\n")
    carets = [ln for ln in out.splitlines() if ln.rstrip().endswith("^")]
    source_lines = text.splitlines()
    if 1 <= line <= len(source_lines):
        assert len(carets) == 1
        assert carets[0].count("^") >= 1
    else:
        assert carets == []
