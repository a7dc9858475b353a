#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1, for trying the PostgreSQL store
# and for benchmarks (the test suite starts its own; see tests/support/postgres.py).
#
#   scripts/postgres.sh start [--fsync]   initdb + pg_ctl in a new temp directory;
#                                         prints DSN=... and DIR=...
#   scripts/postgres.sh stop DIR          stops it and removes DIR
#
# As root the server runs as the `postgres` user (PostgreSQL refuses root).
# Without --fsync nothing is flushed to disk: fine for a cluster you throw away.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tests/support/postgres.py "$@"
