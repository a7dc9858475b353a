"""`flowc convert` keeps comments before the node they precede, both ways, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowyard.compiler.api import parse_text
from flowyard.compiler.cli import main
from flowyard.dsl.comments import attach, source_comments

ROOT = Path(__file__).resolve().parents[2]

YAML = """\
# top of the file
flow: demo   # the flow's name
version: 1
events:
  # the only event
  Go:
    topic: t
    key: event.id
    schema:
      type: object
      # inside a schema
      properties: {id: {type: string, description: "a # that is text"}}
initial: a
states:
  # the first state
  a:
    description: |
      a block scalar # with a hash that is text
    on:
      # before the trigger
      Go:
        - when: event.id == '#1'
          goto: b
        # before the second candidate
        - goto: b
  b: {final: true}
# the end
"""


def comments_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def converted(tmp_path: Path, name: str, text: str, to: str) -> tuple[str, str]:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    out = tmp_path / f"out.{to}"
    assert main(["convert", str(source), "--to", to, "-o", str(out)]) == 0
    return out.read_text(encoding="utf-8"), str(source)


def test_only_real_comments_are_found_in_yaml() -> None:
    found = source_comments(YAML, "yaml")
    assert [(c.line, c.text, c.trailing) for c in found] == [
        (1, " top of the file", False),
        (2, " the flow's name", True),
        (5, " the only event", False),
        (11, " inside a schema", False),
        (15, " the first state", False),
        (20, " before the trigger", False),
        (24, " before the second candidate", False),
        (27, " the end", False),
    ]


def test_comments_go_before_their_node_both_ways(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsl, _ = converted(tmp_path, "demo.flow.yaml", YAML, "dsl")
    err = capsys.readouterr().err
    assert err == (
        "flowc: kept 8 comments: 6 before the node they preceded, 2 moved before the "
        "declaration holding them (end-of-line comments, and comments inside schemas, "
        "maps or expressions)\n"
    )
    lines = dsl.splitlines()
    assert lines[:2] == ["# top of the file", "# the flow's name"]
    assert lines[lines.index("# the only event") + 1] == "# inside a schema"
    assert lines[lines.index("# inside a schema") + 1] == "event Go {"
    assert lines[lines.index("# the first state") + 1].startswith("state a")
    assert lines[lines.index("  # before the trigger") + 1] == "  on Go {"
    assert lines[lines.index("    # before the second candidate") + 1].startswith("    else")
    assert lines[-1] == "# the end"
    back, _ = converted(tmp_path, "demo.flow", dsl, "yaml")
    assert comments_of(back) == comments_of(dsl)
    assert (
        back.splitlines()[back.splitlines().index("      # before the trigger") + 1] == "      Go:"
    )
    flows = [parse_text(t, file="x", surface=s)[0] for t, s in ((YAML, "yaml"), (back, "yaml"))]
    assert flows[0] is not None and flows[1] is not None
    assert flows[0].states == flows[1].states  # spans are not compared


@pytest.mark.parametrize("example", ["order_fulfillment", "subscription", "webhook_fanout"])
def test_the_examples_keep_every_comment_both_ways(tmp_path: Path, example: str) -> None:
    for source, to in ((f"{example}.flow.yaml", "dsl"), (f"{example}.flow", "yaml")):
        text = (ROOT / "examples" / source).read_text(encoding="utf-8")
        out, _ = converted(tmp_path, source, text, to)
        assert comments_of(out) == comments_of(text)


def test_nothing_to_keep_is_said_too() -> None:
    text = "flow: x\nversion: 1\ninitial: a\nstates:\n  a: {final: true}\n"
    flow, _ = parse_text(text, file="x", surface="yaml")
    assert flow is not None
    assert attach(source_comments(text, "yaml"), flow, text.splitlines()).summary() == (
        "no comments to keep"
    )


def test_dsl_comments_on_lines_of_their_own_survive_a_lexer_that_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowyard.dsl import dsl_lark
    from lark.exceptions import LarkError

    class Failing:
        def lex(self, text: str, dont_ignore: bool) -> object:
            raise LarkError("no")

    text = "# one\nflow x version 1  # two\n  # three\n"
    monkeypatch.setattr(dsl_lark, "parser", Failing)
    found = source_comments(text, "dsl")
    assert [(c.line, c.text) for c in found] == [(1, " one"), (3, " three")]
