#!/usr/bin/env bash
# Installs everything the test suite needs, then runs lint, types and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Graphviz lets the `flowc graph --format svg` tests run; the script says what it does first.
scripts/install_graphviz.sh
# PostgreSQL's binaries let the PostgreSQL store tests run (each session starts its own cluster).
scripts/install_postgres.sh

# Java and Maven let the Kafka tests run a real broker (its jars are fetched once
# into ~/.cache/flowyard/kafka); without them those tests skip (and fail under CI=true).
if { ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; } \
    && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null) \
        || echo "note: Java/Maven could not be installed; Kafka tests will be skipped" >&2
fi
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
    python3 -c 'from flowyard.interpreter.kafka.devbroker import ensure_jars; ensure_jars()' \
        || echo "note: the Kafka broker's jars could not be fetched" >&2
fi

python3 -m ruff check .
python3 -m ruff format --check .
scripts/mypy.sh
python3 -m pytest -q "$@"
