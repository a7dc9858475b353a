"""Golden files: compare output with an expected file, or (re)write it.

`FLOWYARD_UPDATE_GOLDEN=1` writes the expected files instead of comparing;
review the diff after.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

UPDATE = os.environ.get("FLOWYARD_UPDATE_GOLDEN") == "1"


def check_golden(expected: Path, actual: str) -> None:
    """Assert `actual` is the text of `expected` (or write it, when updating)."""
    if UPDATE:
        expected.write_text(actual, encoding="utf-8")
        return
    if not expected.exists():
        pytest.fail(f"{expected.name} is missing; run with FLOWYARD_UPDATE_GOLDEN=1 to create it")
    assert actual == expected.read_text(encoding="utf-8")
