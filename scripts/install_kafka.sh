#!/usr/bin/env bash
# Installs Java 17 and Maven for the Kafka tests, saying so first, then fetches the
# broker's jars once into ~/.cache/flowyard/kafka (scripts/kafka.sh and the tests'
# session broker use them). Without Java or Maven the Kafka tests are skipped with
# the reason (and fail under CI=true). FLOWYARD_NO_SYSTEM_INSTALL=1 leaves the system alone.
set -euo pipefail

have_tools() { command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; }

if ! have_tools; then
    if [ "${FLOWYARD_NO_SYSTEM_INSTALL:-}" = 1 ]; then
        echo "note: Java or Maven is not installed; the Kafka tests will be skipped" >&2
        exit 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "note: Java or Maven is not installed and cannot be installed here (needs apt-get" \
            "as root); the Kafka tests will be skipped" >&2
        exit 0
    fi
    echo "installing Java 17 and Maven system-wide (apt-get install openjdk-17-jre-headless maven)" \
        "so the Kafka tests can run a real broker; set FLOWYARD_NO_SYSTEM_INSTALL=1 to skip this" \
        "(those tests are then skipped)" >&2
    (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null) \
        || echo "note: Java and Maven could not be installed; the Kafka tests will be skipped" >&2
fi
if have_tools; then
    python3 -c 'from flowyard.interpreter.kafka.devbroker import ensure_jars; ensure_jars()' \
        || echo "note: the Kafka broker's jars could not be fetched; the Kafka tests will fail" >&2
fi
