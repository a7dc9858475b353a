#!/usr/bin/env bash
# A development Kafka broker on free 127.0.0.1 ports (KRaft, one node).
#   scripts/kafka.sh start [DIR]   starts it (or finds it running); prints its bootstrap address
#   scripts/kafka.sh stop [DIR]    stops it by pid
# DIR (default .flowyard/kafka) keeps its configuration, data and broker.log.
# The broker's jars are fetched once with Maven into ~/.cache/flowyard/kafka
# ($FLOWYARD_CACHE/kafka if set); Java 17+ and mvn are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
command="${1:-}"
dir="${2:-.flowyard/kafka}"
case "$command" in
    start | stop) exec python3 -m flowyard.interpreter.kafka.devbroker "$command" "$dir" ;;
    *)
        echo "usage: scripts/kafka.sh start|stop [DIR]" >&2
        exit 2
        ;;
esac
