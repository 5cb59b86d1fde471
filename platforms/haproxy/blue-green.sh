#!/usr/bin/env bash
# Blue-green behind HAProxy: the backend holds the live version's instances; update starts the
# other version's, rewrites the backend and does a seamless reload (master-worker mode: the new
# worker takes the listening socket over from the old one through the stats socket, so no
# connection is refused), then stops the old instances.
#
#   blue-green.sh deploy|update|status|teardown      (the contract and environment: see ../lib.sh)
#
# Files in $HARNESS_STATE_DIR: haproxy.cfg, haproxy.pid (the master's, from -p), haproxy.proc
# (ours), haproxy.log, master.sock, admin.sock, and per instance ID.out/.log/.addr/.proc.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
source "${HERE%/*}/lib.sh"
platform_init haproxy-blue-green "${1:-}"
hx_init

# write_cfg FILE ID...: a backend of those instances, named by their ids (readable in show stat).
# No health checks: there is only ever one set of servers, with nothing to fail over to.
write_cfg() {
    local file=$1 id body='    balance roundrobin'
    shift
    for id in "$@"; do
        instance_addr "$id"
        body+=$'\n'"    server $id $REPLY"
    done
    hx_write_cfg "$file" "$body"
}

case $CMD in
deploy)
    if proc_alive haproxy; then die "already deployed: haproxy runs (pid $PROC_PID)"; fi
    require_port_free
    start_instances "$HARNESS_FROM" "${FROM_IDS[@]}"
    write_cfg "$STATE/haproxy.cfg" "${FROM_IDS[@]}"
    hx_start
    log "deployed $HARNESS_FROM: $URL/health answers through haproxy"
    ;;

update)
    proc_alive haproxy || die "haproxy is not running (did deploy succeed?)"
    start_instances "$HARNESS_TO" "${TO_IDS[@]}"
    # Check the new config before it replaces the live one: the master re-reads haproxy.cfg.
    write_cfg "$STATE/haproxy.cfg.new" "${TO_IDS[@]}"
    hx_check_cfg "$STATE/haproxy.cfg.new"
    mv -f "$STATE/haproxy.cfg.new" "$STATE/haproxy.cfg"
    log "backend -> ${TO_IDS[*]}"
    hx_reload
    hand_over haproxy
    ;;

status)
    blue_green_status haproxy
    ;;

teardown)
    # USR1 to the master: HAProxy's graceful stop (with idle-close-on-response it waits for
    # idle clients too, hence the escalation); TERM: hard stop, the master takes its workers.
    teardown_all haproxy USR1 TERM
    ;;
esac
