"""Shared fixtures: paths to the project's and the shared examples."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_EXAMPLES = ROOT.parent / "shared" / "examples"
EXAMPLES = ROOT / "examples"


@pytest.fixture
def root() -> Path:
    return ROOT


def shared_examples() -> list[Path]:
    return sorted(SHARED_EXAMPLES.glob("*.flow.yaml"))
