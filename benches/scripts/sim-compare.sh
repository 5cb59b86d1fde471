#!/usr/bin/env bash
# `harness compare --platform sim` of the seven seed scenarios, REPEAT runs each, timed as a
# whole process, with the comparison's table (its confidence intervals included).
#
#   benches/scripts/sim-compare.sh [REPEAT] [JOBS]     (default 100 runs, 2 at once)
set -euo pipefail
cd "$(dirname "$0")/../.."
repeat=${1:-100}
jobs=${2:-2}
cargo build --release -q -p harness --bin harness
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s.%N)
target/release/harness compare scenarios/seed-*.toml --platform sim --repeat "$repeat" \
  --jobs "$jobs" --out "$out/compare" > "$out/table.md" || true
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v r="$repeat" \
  'BEGIN { printf "7 seed scenarios x %d runs on the sim: %.1f s wall\n", r, e - s }'
cat "$out/table.md"
