"""Shared fixtures: paths to the project's and the shared examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flowyard.compiler.api import CHECK_IR_ENV

# flowc leaves the IR schema self-check off by default (it dominates compile time on
# large flows); the test suite turns it on, so every IR any test compiles is checked.
os.environ.setdefault(CHECK_IR_ENV, "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED_EXAMPLES = ROOT.parent / "shared" / "examples"
EXAMPLES = ROOT / "examples"


@pytest.fixture
def root() -> Path:
    return ROOT


def shared_examples() -> list[Path]:
    return sorted(SHARED_EXAMPLES.glob("*.flow.yaml"))
