#!/usr/bin/env bash
# Serve idp and the demo benefits portal together; Ctrl-C (or either one exiting) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/idp serve --bind 127.0.0.1:5000 &
idp_pid=$!
.venv/bin/python -m examples.benefits_portal &
portal_pid=$!

stop() {
  kill "$idp_pid" "$portal_pid" 2>/dev/null || true
  wait "$idp_pid" "$portal_pid" 2>/dev/null || true
}
trap stop INT TERM EXIT

echo
echo "idp:             http://127.0.0.1:5000/.well-known/openid-configuration"
echo "benefits portal: http://127.0.0.1:5001  <- open this and sign in with the demo member above"
echo "Press Ctrl-C to stop both."
wait -n "$idp_pid" "$portal_pid"
