#!/usr/bin/env bash
# A command platform for the tests: one app process listening on the front door itself.
# `update` stops A with SIGTERM (its cancellation token) and starts B on the same port: a
# recreate, with the downtime and the losses that come with it. `FAIL_AT=deploy|update` makes
# that command fail; `HANG_AT=deploy|update` makes it hang (for the timeout).
set -euo pipefail
state="$HARNESS_STATE_DIR"
cmd="${1:?deploy|update|status|teardown}"
if [[ "${FAIL_AT:-}" == "$cmd" ]]; then echo "failing $cmd as asked" >&2; exit 7; fi
if [[ "${HANG_AT:-}" == "$cmd" ]]; then sleep 300 & echo $! >"$state/hang.pid"; wait; fi

start() { # version
  local v="$1" id
  id="$(echo "$v" | tr '[:upper:]' '[:lower:]')-0"
  # shellcheck disable=SC2086 # the app command and its flags are shell words
  $HARNESS_APP_COMMAND --listen "127.0.0.1:$HARNESS_PORT" --version "$v" --instance "$id" \
    --sink "$HARNESS_SINK_URL" $HARNESS_WORK_ARGS >"$state/$id.out" 2>"$state/$id.log" </dev/null &
  echo $! >"$state/app.pid"
  echo "$v" >"$state/version"
  for _ in $(seq 1 300); do
    [[ -s "$state/$id.out" ]] && return 0
    kill -0 "$(cat "$state/app.pid")" 2>/dev/null || { echo "$id died at start" >&2; return 1; }
    sleep 0.02
  done
  echo "$id never printed its address" >&2; return 1
}

# A zombie (exited, not yet reaped by init) is not alive.
alive() { [[ -e /proc/$1 ]] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }

stop() {
  [[ -f "$state/app.pid" ]] || return 0
  local pid; pid="$(cat "$state/app.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 250); do alive "$pid" || break; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state/app.pid"
}

case "$cmd" in
  deploy) start "$HARNESS_FROM" ;;
  update) stop; start "$HARNESS_TO" ;;
  status) [[ "$(cat "$state/version" 2>/dev/null)" == "$HARNESS_TO" ]] ;;
  teardown) stop; [[ -f "$state/hang.pid" ]] && kill "$(cat "$state/hang.pid")" 2>/dev/null; true ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
