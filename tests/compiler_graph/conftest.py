"""Fixtures for the graph tests: the hand-written IR of the shared order_fulfillment example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def order_ir() -> dict[str, Any]:
    """The IR of shared/examples/order_fulfillment.flow.yaml, written by hand from docs/ir.md."""
    text = (HERE / "fixtures" / "order_fulfillment.ir.json").read_text(encoding="utf-8")
    ir: dict[str, Any] = json.loads(text)
    return ir


@pytest.fixture
def golden_dir() -> Path:
    return HERE / "golden"
