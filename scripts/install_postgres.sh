#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (Debian's `postgresql` package) for the
# PostgreSQL store tests, saying so first. The tests start a throwaway cluster
# of their own on 127.0.0.1 (tests/support/postgres.py): only initdb, pg_ctl and
# postgres are needed, not Debian's packaged cluster. Without them those tests
# are skipped with the reason. FLOWYARD_NO_SYSTEM_INSTALL=1 leaves the system alone.
set -euo pipefail
. "${BASH_SOURCE[0]%/*}/system_install.sh"

for found in "${FLOWYARD_PG_LIB:-/usr/lib/postgresql}"/*/bin/initdb; do
    [ -x "$found" ] && exit 0
done
if command -v initdb >/dev/null 2>&1; then
    exit 0
fi
install_system_packages postgresql postgresql "the PostgreSQL store tests can run" \
    "the PostgreSQL store tests"
