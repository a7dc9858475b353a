#!/usr/bin/env bash
# Installs everything the test suite needs, then runs lint, types and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Graphviz lets the `flowc graph --format svg` tests run; the script says what it does first.
scripts/install_graphviz.sh
# PostgreSQL's binaries let the PostgreSQL store tests run (each session starts its own cluster).
scripts/install_postgres.sh

# Java and Maven let the Kafka tests run a real broker (its jars fetched once into
# ~/.cache/flowyard/kafka); the script says what it does first.
scripts/install_kafka.sh

python3 -m ruff check .
python3 -m ruff format --check .
scripts/mypy.sh
python3 -m pytest -q "$@"
