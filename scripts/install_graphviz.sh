#!/usr/bin/env bash
# Installs Graphviz (its `dot` program) for the `flowc graph --format svg` tests,
# saying so first. Without it those tests are skipped with the reason; nothing else
# needs it. FLOWYARD_NO_SYSTEM_INSTALL=1 leaves the system alone.
set -euo pipefail
. "${BASH_SOURCE[0]%/*}/system_install.sh"

if command -v dot >/dev/null 2>&1; then
    exit 0
fi
install_system_packages graphviz graphviz "the 'flowc graph --format svg' tests can run" \
    "the svg tests"
