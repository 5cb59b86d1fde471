#!/usr/bin/env bash
# Soak: the sink at a steady open-loop rate from many keep-alive connections, and beside it
# a harness run of the same length (a rolling update of 3 instances), with the resident
# memory (VmRSS, VmHWM) of the sink and of the harness sampled once a second. At the end
# every item the sink acknowledged must be in its arrivals.csv exactly once, the harness run
# must be valid and lose nothing, and memory must keep the bounds below.
#
#   benches/scripts/soak.sh [DURATION_S] [RATE] [CONNECTIONS] [OUT_DIR]
#
# Defaults: 600 s, 10000 items/s, 64 connections. OUT_DIR (or $SOAK_OUT; default a new
# temporary directory, printed) gets the CSVs (sink-rss.csv, harness-rss.csv:
# t_s,rss_kib,hwm_kib,cpu_s,children,children_rss_kib), load.json, acked.csv, soak.json, the
# sink's arrivals.csv (sink/, about 66 bytes an item) and the harness run (harness-run/).
# The short form for CI: benches/scripts/soak.sh 20
#
# Also from the environment: SOAK_BATCH (items per request, default 1), SOAK_FSYNC (the
# sink's --fsync, default batch), and the memory bounds (peak RSS, and the growth of RSS
# over the last half of the samples), each "" for none:
#   SOAK_SINK_MAX_RSS_MIB (default 1024): the sink keeps a count per distinct key to report
#     duplicates, by design up to 8M keys (sink::recorder::MAX_TRACKED_KEYS), a table of
#     about 530 MiB with a peak near 800 MiB while it doubles the last time;
#   SOAK_SINK_MAX_GROWTH_KIB_PER_MIN (default none): that table grows with every new item
#     and doubles in steps, so a slope says nothing about a leak until it is full;
#   SOAK_HARNESS_MAX_RSS_MIB (default 256);
#   SOAK_HARNESS_MAX_GROWTH_KIB_PER_MIN (default 8192): a run keeps its probes in memory
#     until it ends (measured: about 160 bytes each, 200 a second with the control series)
#     and grew by 2.4-3.7 MiB a minute here; the bound is about twice the most.
#
# Exit: 0 passed; 1 an item was lost or duplicated, not every item was acknowledged, the
# harness run lost items or was invalid, a bound was passed, or a process was left behind;
# 2 the soak could not run.
set -euo pipefail
duration=${1:-600}
rate=${2:-10000}
conns=${3:-64}
out=${4:-${SOAK_OUT:-}}
batch=${SOAK_BATCH:-1}
fsync=${SOAK_FSYNC:-batch}
for n in "$duration" "$rate" "$conns" "$batch"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "soak: expected positive integers, got '$n'" >&2; exit 2; }
done
[ "$duration" -ge 5 ] || { echo "soak: DURATION_S must be at least 5" >&2; exit 2; }
if [ -z "$out" ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
elif [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  echo "soak: $out is not empty; give a new directory" >&2; exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd) # before the cd below, so a relative OUT_DIR is the caller's
cd "$(dirname "$0")/../.."
echo "soak: ${duration} s, ${rate} items/s, ${conns} connections, batch ${batch}, fsync ${fsync}; files in $out"

cargo build --release -q -p sink -p harness -p benches --bin sink --bin harness --bin soak ||
  { echo "soak: the build failed" >&2; exit 2; }
bin=target/release

pids=() # every process started here, for the cleanup
cleanup() {
  local rc=$?
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do # up to 10 s for a graceful stop
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # Every process started here has $out in its arguments; the harness's instances die with
  # it (PR_SET_PDEATHSIG), and `soak report` checked each of them by pid and start time.
  local left
  left=$(pgrep -a -f -- "$bin/(sink|harness|soak) .*$out" || true)
  if [ -n "$left" ]; then
    echo "soak: processes left behind:" >&2
    echo "$left" >&2
    rc=1
  fi
  exit $rc
}
trap cleanup EXIT
trap 'echo "soak: interrupted; stopping what it started" >&2; exit 130' INT
trap 'echo "soak: terminated; stopping what it started" >&2; exit 143' TERM

t0_ns=$(date +%s%N)
"$bin/sink" --listen 127.0.0.1:0 --dir "$out/sink" --fsync "$fsync" >"$out/sink.out" 2>"$out/sink.err" &
sink_pid=$!
pids+=("$sink_pid")
for _ in $(seq 100); do [ -s "$out/sink.out" ] && break; sleep 0.05; done
addr=$(head -1 "$out/sink.out")
[ -n "$addr" ] || { echo "soak: the sink did not start:" >&2; cat "$out/sink.err" >&2; exit 2; }
"$bin/soak" sample --pid "$sink_pid" --csv "$out/sink-rss.csv" --t0-ns "$t0_ns" &
pids+=($!)

# scenarios/seed-rolling.toml made ten times longer and run at a time scale of 0.1, so it
# lasts DURATION_S: an occurrence every second (10 items 100 ms apart), 100 probes a second,
# 3 instances, the rolling update halfway.
scenario="$out/soak-rolling.toml"
cat >"$scenario" <<EOF
name = "soak-rolling"
description = "seed-rolling for ${duration} s at a time scale of 0.1, beside the sink's soak"
strategy = "rolling"
seed = 1

[app]
instances = 3
from = "A"
to = "B"
cold_start = "2s"

[workload]
period = "10s"
items = 10
item_delay = "1s"
late_after = "2s"

[run]
warmup = "20s"
update_at = "$((duration * 5))s"
duration = "$((duration * 10))s"

[rolling]
batch_size = 1
drain_interval = "10s"
EOF
"$bin/harness" run "$scenario" --out "$out/harness-run" --time-scale 0.1 \
  >"$out/harness.out" 2>"$out/harness.err" &
harness_pid=$!
pids+=("$harness_pid")
# Sample from the exec on, not the forked shell before it.
for _ in $(seq 100); do
  [[ $(tr '\0' ' ' <"/proc/$harness_pid/cmdline" 2>/dev/null) == "$bin/harness "* ]] && break
  sleep 0.01
done
"$bin/soak" sample --pid "$harness_pid" --csv "$out/harness-rss.csv" \
  --children-log "$out/harness-children.csv" --t0-ns "$t0_ns" &
pids+=($!)

"$bin/soak" load --addr "$addr" --out "$out" --rate "$rate" --connections "$conns" \
  --batch "$batch" --duration-s "$duration" &
load_pid=$!
pids+=("$load_pid")
wait "$load_pid" || { echo "soak: the load failed" >&2; exit 2; }

# The harness ends a few seconds after the load (start-up, settling, its check).
for _ in $(seq 120); do kill -0 "$harness_pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$harness_pid" 2>/dev/null; then
  echo "soak: the harness still runs 120 s after the load ended; interrupting it" >&2
  kill -INT "$harness_pid"
fi
harness_rc=0
wait "$harness_pid" || harness_rc=$?
# SIGTERM: the sink finishes open requests and syncs arrivals.csv before it exits.
kill -TERM "$sink_pid"
wait "$sink_pid" || { echo "soak: the sink exited with $?:" >&2; tail -5 "$out/sink.err" >&2; exit 2; }
wait # the samplers end with their processes

bound() { if [ -n "$2" ]; then printf -- '--%s %s' "$1" "$2"; fi; }
report_rc=0
# shellcheck disable=SC2046 # each bound is a flag and its value, or nothing
"$bin/soak" report --load-dir "$out" --sink-dir "$out/sink" --sink-rss "$out/sink-rss.csv" \
  --harness-run "$out/harness-run" --harness-exit "$harness_rc" \
  --harness-rss "$out/harness-rss.csv" --harness-children "$out/harness-children.csv" \
  $(bound sink-max-rss-mib "${SOAK_SINK_MAX_RSS_MIB-1024}") \
  $(bound sink-max-growth-kib-per-min "${SOAK_SINK_MAX_GROWTH_KIB_PER_MIN-}") \
  $(bound harness-max-rss-mib "${SOAK_HARNESS_MAX_RSS_MIB-256}") \
  $(bound harness-max-growth-kib-per-min "${SOAK_HARNESS_MAX_GROWTH_KIB_PER_MIN-8192}") ||
  report_rc=$?
echo "soak: files in $out"
exit "$report_rc"
