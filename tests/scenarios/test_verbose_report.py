"""`flowd test -v` prints every failed effect attempt among the steps, as docs/testing.md says;
without -v it prints none of them."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from flowyard.interpreter.scenario.report import run_scenarios

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "examples" / "scenarios" / "order_stock_failure.scenario.yaml")


def test_verbose_prints_each_failed_attempt() -> None:
    out = io.StringIO()
    assert run_scenarios([SCENARIO], verbose=True, out=out) == 0
    warnings = [line.strip() for line in out.getvalue().splitlines() if "warning:" in line]
    assert len(warnings) == 5, out.getvalue()
    assert warnings[0].startswith("warning: effect reserve_stock (order_fulfillment/o-9/")
    assert warnings[0].endswith("attempt 1 of 5 failed (error): warehouse unavailable; retrying")
    assert warnings[4].endswith(
        "attempt 5 of 5 failed (timeout): timed out: stubbed timeout of reserve_stock"
    )
    assert not logging.getLogger("flowyard").handlers


def test_quiet_prints_none() -> None:
    out = io.StringIO()
    assert run_scenarios([SCENARIO], out=out) == 0
    assert "warning" not in out.getvalue()
