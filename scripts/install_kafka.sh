#!/usr/bin/env bash
# Installs Java 17 and Maven for the Kafka tests, saying so first, then fetches the
# broker's jars once into ~/.cache/flowyard/kafka (scripts/kafka.sh and the tests'
# session broker use them). Without Java or Maven the Kafka tests are skipped with
# the reason (and fail under CI=true). FLOWYARD_NO_SYSTEM_INSTALL=1 leaves the system alone.
set -euo pipefail
. "${BASH_SOURCE[0]%/*}/system_install.sh"

have_tools() { command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; }

if ! have_tools; then
    install_system_packages "Java 17 and Maven" "openjdk-17-jre-headless maven" \
        "the Kafka tests can run a real broker" "the Kafka tests"
fi
if have_tools; then
    python3 -c 'from flowyard.interpreter.kafka.devbroker import ensure_jars; ensure_jars()' \
        || echo "note: the Kafka broker's jars could not be fetched; the Kafka tests will fail" >&2
fi
