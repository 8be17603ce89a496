#!/usr/bin/env bash
# End-to-end tests of the web client: builds the server, starts it on a free port with a
# throw-away SQLite database and generous limits, drives it with headless Chromium
# (Debian's chromium + npm playwright-core) through `node --test e2e/`, and always stops it.
# Screenshots land in e2e/artifacts/. Exit code: node's. Arguments, when given, are the test
# files to run (default: all of e2e/), e.g. `bash e2e/run.sh e2e/result.test.mjs`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# Korean glyphs for readable screenshots (not needed by the tests themselves).
if ! fc-list :lang=ko 2>/dev/null | grep -q .; then
  (apt-get update -qq && apt-get install -y -qq fonts-nanum >/dev/null) || true
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

cargo build --bin liar
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/debug/liar"

npm ci --prefix e2e --no-audit --no-fund

tmp="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
url="http://127.0.0.1:$port"

LIAR_BIND="127.0.0.1:$port" \
LIAR_DATABASE_URL="sqlite://$tmp/liar.db" \
LIAR_LOGIN_PER_IP__LIMIT=1000 \
LIAR_REGISTER_PER_IP__LIMIT=1000 \
LIAR_DEAL_SECS=1 \
LIAR_RESULT_DISPLAY_SECS=3 \
LIAR_RECONNECT_GRACE_SECS=60 \
  "$bin" >"$tmp/server.log" 2>&1 &
server=$!

cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ -n "${KEEP_SERVER_LOG:-}" ]; then cp "$tmp/server.log" "$root/e2e/artifacts/server.log" 2>/dev/null || true; fi
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

if [ "$#" -eq 0 ]; then rm -rf e2e/artifacts; fi
mkdir -p e2e/artifacts

status=0
# LIAR_BIN and LIAR_DATABASE_URL let a test run `liar admin grant` against this server's database.
LIAR_URL="$url" CHROMIUM="${CHROMIUM:-$(command -v chromium)}" LIAR_BIN="$bin" LIAR_DATABASE_URL="sqlite://$tmp/liar.db" \
  node --test --test-concurrency=1 "${@:-e2e/}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2
  tail -n 80 "$tmp/server.log" >&2
fi
exit "$status"
