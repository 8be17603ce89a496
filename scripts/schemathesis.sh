#!/usr/bin/env bash
# schemathesis 4 against the real server: builds `liar`, starts it on a free port with a
# throw-away SQLite database and a low password-hash cost, registers a member and an admin
# (`liar admin grant`), and runs `schemathesis run` with every check against /openapi.json once as
# each of them, so the admin-only topic routes are exercised past 403. Every check is on (see
# scripts/schemathesis.toml for the one operation where one check cannot apply). Any finding
# fails.
# Usage: scripts/schemathesis.sh [extra schemathesis options, e.g. --max-examples 100]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

venv="$target_dir/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

cargo build --quiet --bin liar
bin="$target_dir/debug/liar"

tmp="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
url="http://127.0.0.1:$port"
export LIAR_DATABASE_URL="sqlite://$tmp/liar.db"

# Limits high enough that generated traffic meets the API, not the abuse limits.
LIAR_BIND="127.0.0.1:$port" \
LIAR_LOGIN_PER_IP__LIMIT=1000000 \
LIAR_REGISTER_PER_IP__LIMIT=1000000 \
LIAR_LOGIN_FAILURES_PER_ACCOUNT__LIMIT=1000000 \
LIAR_PASSWORD_HASH__MEMORY_KIB=256 \
LIAR_PASSWORD_HASH__ITERATIONS=1 \
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

password="schemathesis-password"
# Registers NAME and prints an access token for it.
token_for() {
  curl -fsS -X POST "$url/api/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$1@example.com\",\"username\":\"$1\",\"password\":\"$password\"}" >/dev/null
  if [ "${2:-}" = admin ]; then
    "$bin" admin grant "$1@example.com" >/dev/null
  fi
  curl -fsS -X POST "$url/api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1@example.com\",\"password\":\"$password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])'
}
member="$(token_for st-member)"
admin="$(token_for st-admin admin)"

status=0
for who in member admin; do
  token="$member"
  [ "$who" = admin ] && token="$admin"
  echo "== schemathesis as the $who"
  # Logging out would end the very session the run authenticates with.
  "$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$url/openapi.json" \
    --max-examples 30 \
    --exclude-path /api/auth/logout \
    --header "Authorization: Bearer $token" \
    --no-color \
    "$@" || status=1
done
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2
  tail -n 30 "$tmp/server.log" >&2
fi
exit "$status"
