#!/usr/bin/env bash
# Failover soak (issue 14): three nodes on one PostgreSQL database and a Redis server started
# here, `liar-load play --reconnect` spread over them, and every minute one node killed with
# SIGKILL (each in turn) and started again 5 s later under the same node id. The bots of the
# killed node reconnect to the next node and resume from the last event they saw. Prints
# liar-load's report: games started, ended, aborted, still running at the end, lost (running
# but silent for 30 s at the end), reconnects, command→event latency.
#
#   bash scripts/soak-failover.sh [players] [seconds] [kill_every_secs]
#   # defaults: 600 players (rooms of 6), 600 s, a kill every 60 s
#
# Needs release builds (CARGO_TARGET_DIR is honoured):
#   cargo build --release -p liar-server --bin liar && cargo build --release -p liar-load
# and PostgreSQL at $LIAR_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432) and
# redis-server on the PATH.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}/release"
players="${1:-600}"
secs="${2:-600}"
every="${3:-60}"
pg="${LIAR_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
db=soak_failover
work="$(mktemp -d)"
redis_port=$((20000 + RANDOM % 10000))
redis-server --port "$redis_port" --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log"
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
declare -a pid
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null; done
  kill "$(cat "$work/redis.pid" 2>/dev/null)" 2>/dev/null
}
trap cleanup EXIT

start() {
  local i="$1" port=$((18280 + $1))
  LIAR_REDIS_URL="redis://127.0.0.1:$redis_port" LIAR_NODE_ID="n$i" \
    LIAR_DATABASE_URL="$pg/$db" LIAR_BIND="127.0.0.1:$port" LIAR_TRUSTED_PROXIES=127.0.0.1 \
    LIAR_DEAL_SECS=1 LIAR_RESULT_DISPLAY_SECS=1 \
    LIAR_PASSWORD_HASH__MEMORY_KIB=1024 LIAR_PASSWORD_HASH__ITERATIONS=1 \
    LIAR_LOGIN_PER_IP__LIMIT=1000000 LIAR_REGISTER_PER_IP__LIMIT=1000000 RUST_LOG=warn \
    "$target/liar" >>"$work/n$i.log" 2>&1 &
  pid[$i]=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}

for i in 0 1 2; do start "$i"; done
servers="127.0.0.1:18280,127.0.0.1:18281,127.0.0.1:18282"
echo "== soak: $players players on 3 nodes, ${secs}s, a node killed every ${every}s (logs in $work)"
"$target/liar-load" play --servers "$servers" --pid "${pid[0]},${pid[1]},${pid[2]}" --prefix soak \
  --players "$players" --room-size 6 --duration-secs "$secs" --reconnect >"$work/load.log" 2>&1 &
load=$!
# Wait until the bots are seated (the measured window starts then), then kill a node every
# `every` seconds.
until grep -q "bots seated" "$work/load.log" 2>/dev/null || ! kill -0 "$load" 2>/dev/null; do sleep 1; done
grep "bots seated" "$work/load.log"
kills=0
started=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  sleep "$every"
  kill -0 "$load" 2>/dev/null || break
  [ $(( $(date +%s) - started )) -ge "$secs" ] && break
  i=$((kills % 3))
  kill -9 "${pid[$i]}" 2>/dev/null
  kills=$((kills + 1))
  echo "$(date +%T) killed n$i (kill $kills)"
  sleep 5
  start "$i"
  echo "$(date +%T) n$i started again"
done
wait "$load"
grep -E "RESULT" "$work/load.log"
for i in 0 1 2; do
  curl -fsS "http://127.0.0.1:$((18280 + i))/metrics" 2>/dev/null \
    | grep -E "^liar_takeovers_total|^liar_lease_lost_total|^liar_room_saves_fenced_total" \
    | sed "s/^/n$i /"
done
psql "$pg/$db" -Atc "SELECT 'games stored: ' || count(*) FROM games" 2>/dev/null
