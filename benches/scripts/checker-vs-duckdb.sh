#!/usr/bin/env bash
# Checks a generated 10M-row arrivals.csv (100,000 occurrences x 100 items) with
# `harness check`, and runs the equivalent DuckDB SQL on the same file, reporting wall time
# and peak memory (GNU time's %M) of each.
#
#   benches/scripts/checker-vs-duckdb.sh [DIR]
#
# Needs python3 with duckdb (pip install duckdb) and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-/tmp/harness-10m}
cargo build --release -q -p harness -p benches --bin harness --bin gen-arrivals
if [ ! -s "$dir/arrivals.csv" ]; then
  target/release/gen-arrivals "$dir" --occurrences 100000 --items 100
fi
cat "$dir/arrivals.csv" > /dev/null # both start from a warm page cache
for i in 1 2 3; do
  /usr/bin/time -f "harness check: %e s, %M KB peak" target/release/harness check "$dir" > /dev/null
done
for i in 1 2 3; do
  /usr/bin/time -f "duckdb:        %e s, %M KB peak" python3 benches/scripts/duckdb_check.py "$dir" > /dev/null
done
target/release/harness check "$dir" | head -12
python3 benches/scripts/duckdb_check.py "$dir"
