#!/usr/bin/env bash
# What a proxy reload does to keep-alive clients, measured two ways in one run, for nginx and
# for HAProxy (master-worker, seamless reload):
#   - the reference: wrk -t2 -c64 against the proxy (platforms/*/blue-green.sh deploy) while
#     the proxy reloads RELOADS times, 1.5 s apart: wrk's "read" socket errors;
#   - the harness: RUNS runs of the proxy's blue-green scenario with probes only (driver
#     none: the update starts B, reloads the proxy, stops A), probing at RATE/s a series on
#     CONNS keep-alive connections and one on new connections: the failed probes of each.
#
#   benches/scripts/reload-errors.sh [RUNS] [RELOADS] [RATE] [CONNS]
#
# Needs wrk, nginx-light and haproxy (Debian packages), curl and perl.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5} reloads=${2:-3} rate=${3:-1000} conns=${4:-8}
cargo build --release -q -p harness --bin harness
harness="$PWD/target/release/harness"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# wrk against a deployed proxy, reloading it $reloads times; prints the read errors.
wrk_reloads() { # proxy script reload-command...
  local proxy=$1 script=$2
  shift 2
  export HARNESS_STATE_DIR="$work/$proxy-wrk" HARNESS_PORT HARNESS_FROM=A HARNESS_TO=B
  export HARNESS_INSTANCES=1 HARNESS_APP_COMMAND="$harness testfn" HARNESS_WORK_ARGS=--no-lifecycle
  export HARNESS_SINK_URL=http://127.0.0.1:9 HARNESS_TIME_SCALE=1 HARNESS_RUN_DIR="$work"
  HARNESS_PORT=$(free_port)
  export HARNESS_URL="http://127.0.0.1:$HARNESS_PORT"
  mkdir -p "$HARNESS_STATE_DIR"
  "$script" deploy >"$work/$proxy-deploy.log" 2>&1
  local S=$HARNESS_STATE_DIR
  wrk -t2 -c64 -d"$((reloads * 2 + 2))s" "$HARNESS_URL/api/ping" >"$work/$proxy-wrk.txt" &
  local wrk_pid=$!
  sleep 1.5
  for ((i = 0; i < reloads; i++)); do
    eval "$*"
    sleep 1.5
  done
  wait "$wrk_pid"
  "$script" teardown >"$work/$proxy-teardown.log" 2>&1
  local read_errors
  read_errors=$(sed -n 's/.*Socket errors:.* read \([0-9]*\),.*/\1/p' "$work/$proxy-wrk.txt")
  echo "${read_errors:-0}"
}

# The harness's probes over $runs one-reload runs; prints "reused-failures new-failures".
harness_reloads() { # scenario
  local name=$1 reused=0 new=0
  # The lag budget is loosened to 50 ms (and reported): at thousands of probes a second on
  # two busy cores, 10 ms is the client's limit, not the proxy's.
  sed -e 's/^driver = "harness"/driver = "none"/' -e "s/^rate = .*/rate = $rate/" \
    -e "s/^connections = .*/connections = $conns/" \
    -e 's/^max_send_lag = .*/max_send_lag = "50ms"/' \
    "scenarios/$name.toml" >"scenarios/.bench-$name.toml"
  for ((i = 0; i < runs; i++)); do
    local out="$work/$name-$i"
    "$harness" run "scenarios/.bench-$name.toml" --time-scale 0.05 --out "$out" --quiet >/dev/null || true
    read -r r n < <(python3 - "$out/summary.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["verdict"]["downtime_by_conn"]
print(v["reused"]["failed_probes"], v["new"]["failed_probes"])
lag = json.load(open(sys.argv[1]))["run"]["probe_send_lag_ms"]
print(f"probe send lag p99 {lag['p99']:.2f} ms, failed by kind:",
      {k: d.get("failed_by", {}) for k, d in v.items()}, file=sys.stderr)
PY
)
    reused=$((reused + r)) new=$((new + n))
  done
  rm -f "scenarios/.bench-$name.toml"
  echo "$reused $new"
}

ng=$(wrk_reloads nginx platforms/nginx/blue-green.sh \
  'nginx -p "$S/" -c "$S/nginx.conf" -e "$S/nginx-error.log" -s reload')
hp=$(wrk_reloads haproxy platforms/haproxy/blue-green.sh 'kill -USR2 "$(cat "$S/haproxy.pid")"')
read -r ng_reused ng_new < <(harness_reloads nginx-blue-green)
read -r hp_reused hp_new < <(harness_reloads haproxy-blue-green)
printf '%-8s  %-34s  %s\n' proxy "wrk -c64: read errors ($reloads reloads)" \
  "harness ($runs reloads, ${rate}/s a series): failed reused / new"
printf '%-8s  %-34s  %s / %s\n' nginx "$ng" "$ng_reused" "$ng_new"
printf '%-8s  %-34s  %s / %s\n' haproxy "$hp" "$hp_reused" "$hp_new"
