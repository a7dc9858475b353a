#!/usr/bin/env bash
# Installs everything the test suite needs, then runs lint, types and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Graphviz lets the `flowc graph --format svg` tests run for real.
if ! command -v dot >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
        || echo "note: graphviz could not be installed; svg tests will be skipped" >&2
fi

python3 -m ruff check .
python3 -m ruff format --check .
scripts/mypy.sh
python3 -m pytest -q "$@"
