#!/usr/bin/env bash
# Installs Graphviz (its `dot` program) for the `flowc graph --format svg` tests,
# saying so first. Without it those tests are skipped with the reason; nothing else
# needs it. FLOWYARD_NO_SYSTEM_INSTALL=1 leaves the system alone.
set -euo pipefail

if command -v dot >/dev/null 2>&1; then
    exit 0
fi
if [ "${FLOWYARD_NO_SYSTEM_INSTALL:-}" = 1 ]; then
    echo "note: graphviz (dot) is not installed; the svg tests will be skipped" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "note: graphviz (dot) is not installed and cannot be installed here (needs apt-get as root);" \
        "the svg tests will be skipped" >&2
    exit 0
fi
echo "installing graphviz system-wide (apt-get install graphviz) so the 'flowc graph --format svg'" \
    "tests can run; set FLOWYARD_NO_SYSTEM_INSTALL=1 to skip this (those tests are then skipped)" >&2
(apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
    || echo "note: graphviz could not be installed; the svg tests will be skipped" >&2
