"""docs/language.md stays true to the parsers: every DSL and YAML block in it parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from flowyard.dsl.dsl_parser import parse_dsl

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"
BLOCK = re.compile(r"```(flow|yaml)\n(.*?)```", re.DOTALL)


def blocks(kind: str) -> list[str]:
    return [body for k, body in BLOCK.findall(DOC.read_text()) if k == kind]


@pytest.mark.parametrize("fragment", blocks("flow"))
def test_every_dsl_fragment_parses(fragment: str) -> None:
    text = fragment if fragment.startswith("flow ") else "flow doc version 1\n" + fragment
    if fragment.startswith("    "):  # actions, from inside a transition
        text = "flow doc version 1\nstate s {\n  on E {\n" + fragment + "  }\n}\n"
    elif fragment.startswith("  "):  # from inside a state
        text = "flow doc version 1\nstate s {\n" + fragment + "}\n"
    _, diagnostics = parse_dsl(text, file="language.md")
    syntax = [d for d in diagnostics if d.code in {"FY004", "FY005"}]
    assert not syntax, "\n".join(f"{d.span.line}:{d.span.column} {d.message}" for d in syntax)


@pytest.mark.parametrize("fragment", blocks("yaml"))
def test_every_yaml_fragment_is_yaml(fragment: str) -> None:
    assert yaml.safe_load(fragment) is not None


def test_the_doc_has_examples_in_both_surfaces() -> None:
    assert len(blocks("flow")) >= 12
    assert len(blocks("yaml")) >= 12
