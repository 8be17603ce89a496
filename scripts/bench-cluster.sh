#!/usr/bin/env bash
# Cross-node fan-out (issue 13): the same `liar-load chat` sweep (rooms of 8) against one node
# and against three nodes whose members of each room sit on all three nodes, one after the other
# on this machine, both on one PostgreSQL database and a Redis server started here.
# Prints liar-load's sweep for each (deliveries/s, p99, server CPU summed over the nodes).
#
#   bash scripts/bench-cluster.sh [rooms] [rates] [step_secs] [which]
#   # defaults: 100 rooms of 8, rates 0.25,0.5,1,2 msg/s/member, 20 s per step, which "one three"
#
# Needs release builds (CARGO_TARGET_DIR is honoured):
#   cargo build --release -p liar-server --bin liar && cargo build --release -p liar-load
# and PostgreSQL at $LIAR_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432) and
# redis-server on the PATH.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}/release"
rooms="${1:-100}"
rates="${2:-0.25,0.5,1,2}"
step="${3:-20}"
which="${4:-one three}"
pg="${LIAR_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
work="$(mktemp -d)"
redis_port=$((20000 + RANDOM % 10000))
redis-server --port "$redis_port" --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  kill "$(cat "$work/redis.pid" 2>/dev/null)" 2>/dev/null
}
trap cleanup EXIT

# nodes N DB: starts N nodes on database DB; sets $servers and $nodepids.
nodes() {
  local n="$1" db="$2"
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  servers=""; nodepids=""
  for i in $(seq 0 $((n - 1))); do
    local port=$((18180 + i))
    local redis=()
    [ "$n" -gt 1 ] && redis=(LIAR_REDIS_URL="redis://127.0.0.1:$redis_port" LIAR_REDIS_PREFIX="$db")
    env "${redis[@]}" LIAR_NODE_ID="n$i" LIAR_DATABASE_URL="$pg/$db" \
      LIAR_BIND="127.0.0.1:$port" LIAR_TRUSTED_PROXIES=127.0.0.1 \
      LIAR_PASSWORD_HASH__MEMORY_KIB=1024 LIAR_PASSWORD_HASH__ITERATIONS=1 \
      LIAR_CHAT_PER_MEMBER__LIMIT=100 LIAR_LOGIN_PER_IP__LIMIT=1000000 \
      LIAR_REGISTER_PER_IP__LIMIT=1000000 RUST_LOG=warn \
      "$target/liar" >"$work/$db-n$i.log" 2>&1 &
    pids+=($!)
    nodepids="${nodepids:+$nodepids,}$!"
    servers="${servers:+$servers,}127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  done
}

run() {
  local label="$1" n="$2"
  nodes "$n" "bench_$label"
  echo "== $label: $n node(s) ($servers), $rooms rooms of 8, rates $rates, ${step}s per step"
  "$target/liar-load" chat --servers "$servers" --pid "$nodepids" --prefix "c$label" \
    --rooms "$rooms" --members 8 --rates "$rates" --step-secs "$step" --against liar 2>&1 \
    | grep -E "RESULT|rate|members connected|failed"
  for p in ${nodepids//,/ }; do kill "$p" 2>/dev/null; done
  sleep 1
}

for w in $which; do
  case "$w" in
    one) run one 1 ;;
    three) run three 3 ;;
  esac
done
