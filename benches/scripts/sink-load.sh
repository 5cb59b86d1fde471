#!/usr/bin/env bash
# Sink ingest throughput, side by side with a bare axum server that answers 204 without
# recording, in the same run: single-item POSTs, then batches of 100.
#
#   benches/scripts/sink-load.sh [DURATION_S] [CONNECTIONS] [FSYNC]
#
# Needs wrk (apt-get install wrk). Both servers and wrk share this machine's cores, so the
# figures are for the whole loopback system, as a user would see them.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
conns=${2:-64}
fsync=${3:-batch}
cargo build --release -q -p sink -p benches --bin sink --bin bare-server
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$work" <<'PY'
import json, sys
d = sys.argv[1]
item = lambda n: {"source": "tick", "m": 1234, "n": n, "version": "A", "instance": "a-0",
                  "attempt": 1, "sent_ns": 1763800000123456789}
json.dump(item(0), open(f"{d}/one.json", "w"))
json.dump([item(n) for n in range(100)], open(f"{d}/batch.json", "w"))
PY

start() { # start NAME CMD...: runs CMD in this shell (so cleanup knows its pid)
  local name=$1; shift
  "$@" > "$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/$name.out" ] && break; sleep 0.05; done
}
# Not `addr=$(start ...)`: a command substitution is a subshell, and the pid it records
# would be lost to the cleanup trap, leaving the servers running.
start sink target/release/sink --listen 127.0.0.1:0 --dir "$work/run" --fsync "$fsync"
start bare target/release/bare-server 127.0.0.1:0
sink_addr=$(head -1 "$work/sink.out")
bare_addr=$(head -1 "$work/bare.out")

load() { # load LABEL ADDR BODY ITEMS
  printf '%-28s ' "$1"
  BODY_FILE="$work/$3" ITEMS=$4 wrk -t1 -c"$conns" -d"${duration}s" -s benches/scripts/post.lua \
    "http://$2/items" | tail -1
}
echo "fsync=$fsync connections=$conns duration=${duration}s"
load "bare, 1 item/request" "$bare_addr" one.json 1
load "sink, 1 item/request" "$sink_addr" one.json 1
load "bare, 100 items/request" "$bare_addr" batch.json 100
load "sink, 100 items/request" "$sink_addr" batch.json 100
rows=$(($(wc -l < "$work/run/arrivals.csv") - 1))
echo "rows in arrivals.csv: $rows"
