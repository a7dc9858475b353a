"""Tests that need a real service (Kafka, PostgreSQL, Graphviz's dot).

Where the service cannot run (no Java, no PostgreSQL binaries), such a test is
skipped with the reason; in CI (`CI=true`) a missing service is a failure
instead, so service tests always run there and never pass by being skipped.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether this run is CI's (`CI=true`), where every service test must run."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def service_unavailable(reason: str) -> NoReturn:
    """Skip the calling test (or fixture) because a service is missing; in CI, fail it."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: service tests must run, not skip)", pytrace=False)
    pytest.skip(reason)
