"""flowd's process settings: start-up objects frozen, young collections rarer,
a shorter GIL switch interval."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from flowyard.interpreter.tuning import (
    SERVING_SWITCH_INTERVAL,
    SERVING_THRESHOLDS,
    tune_for_serving,
)


@pytest.fixture
def restored_settings() -> Iterator[None]:
    thresholds = gc.get_threshold()
    interval = sys.getswitchinterval()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restored_settings")
def test_tuning_freezes_what_exists_and_raises_the_thresholds() -> None:
    tune_for_serving()
    assert gc.get_threshold() == SERVING_THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert SERVING_THRESHOLDS[0] > 700  # the point of it


@pytest.mark.usefixtures("restored_settings")
def test_tuning_shortens_the_switch_interval() -> None:
    sys.setswitchinterval(0.005)
    tune_for_serving()
    assert sys.getswitchinterval() == pytest.approx(SERVING_SWITCH_INTERVAL)
    assert SERVING_SWITCH_INTERVAL < 0.005  # the point of it
