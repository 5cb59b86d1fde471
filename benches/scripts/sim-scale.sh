#!/usr/bin/env bash
# The virtual-time platform at scale: one virtual hour of 1,000 instances under a rolling
# update with demand-driven scaling, timer and queue work and probes at 100/s
# (scenarios/scale/sim-rolling-1000.toml), timed as a whole process with its peak memory
# (GNU time's %M), and the virtual:wall ratio.
#
#   benches/scripts/sim-scale.sh [RUNS]
#
# Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
cargo build --release -q -p harness --bin harness
scenario=scenarios/scale/sim-rolling-1000.toml
virtual_s=3600
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "%e %M" -o "$out/time-$i" \
    target/release/harness run "$scenario" --platform sim --quiet --out "$out/run-$i" || true
  read -r wall_s peak_kb < "$out/time-$i"
  ratio=$(awk -v v="$virtual_s" -v w="$wall_s" 'BEGIN { printf "%.0f", v / w }')
  echo "run $i: ${wall_s} s wall, $((peak_kb / 1024)) MiB peak, virtual:wall ${ratio}:1"
done
# What the last run did, so the figure is of a run that did the work.
target/release/harness check "$out/run-$runs" | sed -n '1,12p'
grep -c . "$out/run-$runs/arrivals.csv" | awk '{ print "arrivals: " $1 - 1 }'
grep -c . "$out/run-$runs/probes.csv" | awk '{ print "probes: " $1 - 1 }'
grep -c instance_started "$out/run-$runs/ledger.csv" | awk '{ print "instances started: " $1 }'
