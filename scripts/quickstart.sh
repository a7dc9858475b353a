#!/usr/bin/env bash
# Flowyard in one command: install, then run the order example end to end on the
# embedded store (SQLite), with no services to set up.
#
# It starts a stand-in shipping carrier on 127.0.0.1 (examples/carrier.py), feeds
# examples/order_fulfillment.events.jsonl to `flowd run` with flow time running
# 1800 times faster (the 30-minute payment timeout and the 1-hour wait before
# shipping pass in seconds), prints every transition as it happens, exits when
# nothing is left to do, and finally checks the journal with `flowd verify`.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e .

flowd() { python3 -m flowyard.interpreter.cli "$@"; }

work="$(mktemp -d)"
carrier_pid=""
cleanup() {
    if [ -n "$carrier_pid" ]; then kill "$carrier_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
python3 examples/carrier.py --port "$port" --delay 0.3 &
carrier_pid=$!
python3 - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/healthz"
for _ in range(100):
    try:
        urllib.request.urlopen(url, timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the example carrier did not start")
PY

export CARRIER_URL="http://127.0.0.1:$port"
flowd run examples/order_fulfillment.flow.yaml \
    --store "$work/flowd.db" --http 127.0.0.1:0 \
    --events examples/order_fulfillment.events.jsonl \
    --env CARRIER_URL --clock-speed 1800 --exit-when-idle
echo
flowd verify --store "$work/flowd.db"
echo
flowd dead-letters --store "$work/flowd.db"
