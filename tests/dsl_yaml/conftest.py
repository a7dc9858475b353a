"""Every YAML surface test runs with libyaml and with the pure-Python fallback."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _both_yaml_parsers(yaml_parser: str) -> str:
    return yaml_parser
