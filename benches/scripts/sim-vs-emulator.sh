#!/usr/bin/env bash
# The same run on the emulator (real processes, real time) and on the sim (virtual time):
# the seed swap at time scale 1, each timed as a whole process, with both verdicts.
#
#   benches/scripts/sim-vs-emulator.sh [SCENARIO]
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${1:-scenarios/seed-swap.toml}
cargo build --release -q -p harness --bin harness
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for platform in local sim; do
  start=$(date +%s.%N)
  target/release/harness run "$scenario" --platform "$platform" --quiet \
    --out "$out/$platform" || true
  end=$(date +%s.%N)
  awk -v p="$platform" -v s="$start" -v e="$end" 'BEGIN { printf "%-6s %8.3f s wall\n", p, e - s }'
done
for platform in local sim; do
  echo "== $platform"
  target/release/harness check "$out/$platform" | sed -n '1,8p'
done
