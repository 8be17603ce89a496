#!/usr/bin/env bash
# Builds the server, starts it on a free port with a throw-away SQLite database, runs the
# @stomp/stompjs interop tests against it (node --test tests/js/), and always stops it.
# Exit code: node's.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

cargo build --bin liar
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/debug/liar"

tmp="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
url="http://127.0.0.1:$port"

LIAR_BIND="127.0.0.1:$port" \
LIAR_DATABASE_URL="sqlite://$tmp/liar.db" \
LIAR_LOGIN_PER_IP__LIMIT=1000 \
LIAR_REGISTER_PER_IP__LIMIT=1000 \
  "$bin" >"$tmp/server.log" 2>&1 &
server=$!

cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -fsS "$url/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server exited early:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! curl -fsS "$url/healthz" >/dev/null 2>&1; then
  echo "the server did not become healthy at $url" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi

npm ci --prefix tests/js --no-audit --no-fund

status=0
LIAR_URL="$url" node --test tests/js/ || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2
  tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"
