#!/usr/bin/env bash
# What durable rooms cost: the same `liar-load play` run against a server that saves every room
# after each transition (the default) and against one with `LIAR_SAVE_ROOMS=false`, one after
# the other on this machine. Prints liar-load's final report for each and the room-save figures
# read from /metrics (saves, group commits, batch sizes, commit latency) over the run.
#
#   bash scripts/bench-saving.sh [players] [seconds] [halves]
#   # defaults: 10002 players, 120 s, halves "on off" (give "on" to run only the saving half)
#
# Needs release builds: cargo build --release -p liar-server --bin liar && cargo build --release -p liar-load
# (CARGO_TARGET_DIR is honoured). Accounts are created at a low password-hash cost so the run
# is about play, not about hashing; the measured window starts after every bot is seated.
set -uo pipefail   # no -e: one half failing must not hide the other
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}/release"
players="${1:-10002}"
secs="${2:-120}"
halves="${3:-on off}"
port=18080

metric() { curl -fsS "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}' | head -1; }

run() {
  local label="$1" save="$2"
  local dir
  dir="$(mktemp -d)"
  LIAR_TRUSTED_PROXIES=127.0.0.1 LIAR_DEAL_SECS=1 LIAR_RESULT_DISPLAY_SECS=1 \
  LIAR_PASSWORD_HASH__MEMORY_KIB=1024 LIAR_PASSWORD_HASH__ITERATIONS=1 \
  LIAR_SAVE_ROOMS="$save" LIAR_DATABASE_URL="sqlite://$dir/liar.db?mode=rwc" \
  LIAR_BIND="127.0.0.1:$port" RUST_LOG=warn "$target/liar" >"$dir/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "== $label (save_rooms=$save), $players players, $secs s"
  local s0 c0 t0
  s0="$(metric liar_room_saves_total)"; c0="$(metric liar_room_save_seconds_count)"; t0=$(date +%s)
  # /metrics keeps recent samples only, so its quantiles are read during the play: the last
  # scrape taken while liar-load was still running is the one reported.
  ( while kill -0 "$pid" 2>/dev/null; do
      curl -fsS "http://127.0.0.1:$port/metrics" >"$dir/metrics.next" 2>/dev/null && mv "$dir/metrics.next" "$dir/metrics.txt"
      sleep 5
    done ) &
  local sampler=$!
  "$target/liar-load" play --server "127.0.0.1:$port" --pid "$pid" --prefix "b$label" \
    --players "$players" --room-size 6 --duration-secs "$secs" 2>&1 | grep -E "^(\[play|RESULT|logged|[0-9]+ bots)"
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  local s1 c1 t1
  s1="$(metric liar_room_saves_total)"; c1="$(metric liar_room_save_seconds_count)"; t1=$(date +%s)
  grep -E '^liar_(room_save_[a-z_]+|sqlite_checkpoint_seconds)\{quantile="(0.5|0.9|0.99|1)"' "$dir/metrics.txt" || true
  awk -v s0="${s0:-0}" -v s1="${s1:-0}" -v c0="${c0:-0}" -v c1="${c1:-0}" -v dt=$((t1 - t0)) 'BEGIN {
    saves = s1 - s0; commits = c1 - c0;
    printf "room saves: %d in %d s (%.0f/s), group commits: %d (%.0f/s), mean batch %.1f\n",
      saves, dt, saves / dt, commits, commits / dt, (commits > 0 ? saves / commits : 0) }'
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "!! the server of '$label' exited during the run; its log ends with:"
    tail -n 20 "$dir/server.log"
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

for half in $halves; do
  case "$half" in
    on) run on true ;;
    off) run off false ;;
  esac
done
