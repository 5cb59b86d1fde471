#!/usr/bin/env bash
# A command platform for the tests: one app process listening on the front door itself.
# `update` stops A with SIGTERM (its cancellation token) and starts B on the same port: a
# recreate, with the downtime and the losses that come with it. Instances beyond the first
# listen on port 0, outside the front door, but run their own timers all the same (the app
# driver's double-timer hazard). A second argument `fail` makes the command fail, `hang`
# makes it hang (for the timeout).
set -euo pipefail
state="$HARNESS_STATE_DIR"
cmd="${1:?deploy|update|status|teardown}"
if [[ "${2:-}" == fail ]]; then echo "failing $cmd as asked" >&2; exit 7; fi
if [[ "${2:-}" == hang ]]; then sleep 300 & echo $! >"$state/hang.pid"; wait; fi

start() { # version
  local v="$1" id port pid i
  for ((i = 0; i < HARNESS_INSTANCES; i++)); do
    id="$(echo "$v" | tr '[:upper:]' '[:lower:]')-$i"
    port=0; ((i == 0)) && port="$HARNESS_PORT"
    # shellcheck disable=SC2086 # the app command and its flags are shell words
    $HARNESS_APP_COMMAND --listen "127.0.0.1:$port" --version "$v" --instance "$id" \
      --sink "$HARNESS_SINK_URL" $HARNESS_WORK_ARGS >"$state/$id.out" 2>"$state/$id.log" </dev/null &
    pid=$!
    echo "$pid" >>"$state/app.pids"
    for _ in $(seq 1 300); do
      [[ -s "$state/$id.out" ]] && break
      alive "$pid" || { echo "$id died at start" >&2; return 1; }
      sleep 0.02
    done
    [[ -s "$state/$id.out" ]] || { echo "$id never printed its address" >&2; return 1; }
  done
  echo "$v" >"$state/version"
}

# A zombie (exited, not yet reaped by init) is not alive.
alive() { [[ -e /proc/$1 ]] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }

stop() {
  [[ -f "$state/app.pids" ]] || return 0
  local pid
  for pid in $(cat "$state/app.pids"); do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $(cat "$state/app.pids"); do
    for _ in $(seq 1 250); do alive "$pid" || break; sleep 0.02; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$state/app.pids"
}

case "$cmd" in
  deploy) start "$HARNESS_FROM" ;;
  update) stop; start "$HARNESS_TO" ;;
  status) [[ "$(cat "$state/version" 2>/dev/null)" == "$HARNESS_TO" ]] ;;
  teardown)
    stop
    if [[ -f "$state/hang.pid" ]]; then kill "$(cat "$state/hang.pid")" 2>/dev/null || true; fi
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
