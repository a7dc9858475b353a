"""Mistakes a new user makes: each gives exactly one clear diagnostic on the right line.

Never a traceback, always exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowyard.compiler.cli import main

VALID = """\
flow: orders
version: 1
events:
  Placed:
    topic: orders
    key: event.order_id
    schema:
      type: object
      properties:
        order_id: {type: string}
        total: {type: number}
initial: new
states:
  new:
    on:
      Placed:
        when: event.total > 100
        goto: big
  big:
    final: true
"""

MISTAKES = {
    # (what was changed, replacement, expected code, expected line)
    "misspelt_key": ("        goto: big", "        gotoo: big", "FY101", 18),
    "wrong_indentation": ("        goto: big", "       goto: big", "FY002", 18),
    "number_compared_to_string": ("event.total > 100", "event.total > '100'", "FY402", 17),
    "goto_missing_state": ("        goto: big", "        goto: bgi", "FY202", 18),
    "tab_indentation": ("        goto: big", "\tgoto: big", "FY002", 18),
    "misspelt_event_in_on": (
        "      Placed:\n        when",
        "      Plcaed:\n        when",
        "FY204",
        16,
    ),
    "trailing_operator": ("event.total > 100", "event.total >", "FY005", 17),
    "unclosed_template": ("event.total > 100", '"${ event.total > 100"', "FY005", 17),
    "unclosed_string": ("    topic: orders", '    topic: "orders', "FY002", 5),
    "duration_in_words": (
        "    on:\n",
        "    after:\n      5 minutes: {goto: big}\n    on:\n",
        "FY501",
        16,
    ),
    "set_undeclared_field": (
        "        goto: big",
        "        do: [{set: {totl: 1}}]\n        goto: big",
        "FY206",
        18,
    ),
    "empty_set": ("        goto: big", "        do: [{set: {}}]\n        goto: big", "FY104", 18),
    "not_a_number": (
        "        goto: big",
        "        do: [{set: {total: .nan}}]\n        goto: big",
        "FY104",
        18,
    ),
    "huge_version": ("version: 1", "version: 123456789012345678901234567890", "FY104", 2),
    "anchor_without_alias": ("      Placed:\n", "      Placed: &p\n", "FY006", 16),
}


def run(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    path = tmp_path / "orders.flow.yaml"
    path.write_text(text, encoding="utf-8")
    code = main(["validate", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_valid_flow_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, VALID, capsys)
    assert code == 0, out + err
    assert "ok:" in out and "(flow orders v1, 2 states, 1 transition)" in out


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_one_clear_diagnostic(
    mistake: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    yaml_parser: str,  # with libyaml and with the pure-Python parser
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    old, new, code, line = MISTAKES[mistake]
    assert old in VALID
    text = VALID.replace(old, new)

    exit_code, out, err = run(tmp_path, text, capsys, "--format", "json")
    assert exit_code == 1
    assert "Traceback" not in out + err
    diagnostics = json.loads(out)
    assert [(d["code"], d["line"]) for d in diagnostics] == [(code, line)], diagnostics
    assert diagnostics[0]["hint"]

    exit_code, out, err = run(tmp_path, text, capsys)
    assert exit_code == 1
    assert f"orders.flow.yaml:{line}:" in out
    assert f"error[{code}]" in out
    assert out.rstrip().endswith("1 error")
