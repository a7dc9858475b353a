#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (Debian's `postgresql` package) for the
# PostgreSQL store tests, saying so first. The tests start a throwaway cluster
# of their own on 127.0.0.1 (tests/support/postgres.py): only initdb, pg_ctl and
# postgres are needed, not Debian's packaged cluster. Without them those tests
# are skipped with the reason. FLOWYARD_NO_SYSTEM_INSTALL=1 leaves the system alone.
set -euo pipefail

for found in "${FLOWYARD_PG_LIB:-/usr/lib/postgresql}"/*/bin/initdb; do
    [ -x "$found" ] && exit 0
done
if command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "${FLOWYARD_NO_SYSTEM_INSTALL:-}" = 1 ]; then
    echo "note: PostgreSQL is not installed; the PostgreSQL store tests will be skipped" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "note: PostgreSQL is not installed and cannot be installed here (needs apt-get as root);" \
        "the PostgreSQL store tests will be skipped" >&2
    exit 0
fi
echo "installing postgresql system-wide (apt-get install postgresql) so the PostgreSQL store" \
    "tests can run; set FLOWYARD_NO_SYSTEM_INSTALL=1 to skip this (those tests are then skipped)" >&2
(apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
    || echo "note: postgresql could not be installed; the PostgreSQL store tests will be skipped" >&2
