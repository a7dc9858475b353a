"""Fixtures and paths every test folder uses."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flowyard.compiler.api import CHECK_IR_ENV

# flowc leaves the IR schema self-check off by default (it dominates compile time on
# large flows); the test suite turns it on, so every IR any test compiles is checked.
os.environ.setdefault(CHECK_IR_ENV, "1")

ROOT = Path(__file__).resolve().parent.parent

# `from support.services import ...` works from every test folder.
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
EXAMPLES = ROOT / "examples"


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once with libyaml and once with pyyaml's pure-Python parser.

    flowc reads YAML with libyaml when pyyaml has it and falls back to the pure-Python
    parser when it does not; both must give the same trees and diagnostics.
    """
    from flowyard.dsl import yaml_loader

    if request.param == "libyaml":
        if not yaml_loader.use_libyaml:
            pytest.skip("pyyaml is built without libyaml here")
    else:
        monkeypatch.setattr(yaml_loader, "use_libyaml", False)
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[object]:
    """A throwaway PostgreSQL cluster for the session (`support.postgres`), started
    on first use and stopped after the last test; skipped with the reason where
    PostgreSQL cannot run (failed in CI)."""
    from support.postgres import PostgresUnavailableError, start
    from support.services import service_unavailable

    try:
        cluster = start()
    except PostgresUnavailableError as error:
        service_unavailable(f"PostgreSQL cannot run here: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The session's Kafka broker (`support.kafka`), started by the first test
    that asks for it and stopped after the last; skipped with the reason where
    it cannot run (failed in CI)."""
    from support.kafka import start_broker

    broker = start_broker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop()
