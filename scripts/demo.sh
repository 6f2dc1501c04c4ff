#!/usr/bin/env bash
# Start `touchpoint serve` on the embedded engine, wait until it answers, then play demo traffic into it.
# Ctrl-C stops both. Options for the demo pass through: scripts/demo.sh --rate 10 --fault failure:online-order/payment@+1m/3m
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PORT=${TOUCHPOINT_PORT:-8050}
URL="http://127.0.0.1:${PORT}"
mkdir -p .touchpoint
"$VENV/bin/touchpoint" serve --port "$PORT" > .touchpoint/serve.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 120); do
  if curl -fsS "$URL/api/v1/health" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER" 2>/dev/null; then cat .touchpoint/serve.log; exit 1; fi
  sleep 0.5
done
echo "Touchpoint is up: open $URL/ in a browser (server log: .touchpoint/serve.log)."
echo "Backfilling the last hour of journeys, then playing live traffic (Ctrl-C to stop)."
"$VENV/bin/touchpoint" demo --url "$URL" --backfill 1h --follow "$@"
