"""docs/diagnostics.md lists exactly the registry's codes, each with its severity."""

from __future__ import annotations

import re
from pathlib import Path

from flowyard.dsl.diagnostics import CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"


def test_docs_list_every_code_once_in_order() -> None:
    headings = re.findall(r"^## (FY\d{3})$", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert headings == list(CODES)


def test_docs_give_each_code_its_severity() -> None:
    sections = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
    for section in sections:
        code = section.split("\n", 1)[0].strip()
        assert f"**{CODES[code].severity}**" in section, code
