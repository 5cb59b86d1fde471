#!/usr/bin/env bash
# Rolling update behind HAProxy: HARNESS_INSTANCES instances of FROM are servers s0..s(N-1) of
# one health-checked backend. update replaces them one slot at a time through the runtime API,
# without a reload: start the TO instance first (surge 1), drain the slot's old server until
# its in-flight requests are done, put it in maintenance, stop the old instance, point the slot
# at the new instance and wait until HAProxy's checks see it UP.
#
#   rolling.sh deploy|update|status|teardown      (the contract and environment: see ../lib.sh)
#
# Files in $HARNESS_STATE_DIR: haproxy.cfg, haproxy.pid, haproxy.proc, haproxy.log,
# master.sock, admin.sock, slot-I (the instance id slot sI serves), and per instance
# ID.out/.log/.addr/.proc.
#
# With one instance there is nobody to take the traffic while s0 is drained and re-pointed:
# requests in that window get 503s. That is what a rolling update of one instance costs.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
source "${HERE%/*}/lib.sh"
platform_init haproxy-rolling "${1:-}"
hx_init

# Fast checks so that a re-pointed slot comes UP within a few hundred ms.
CHECKS='    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server check inter 100ms fastinter 100ms downinter 100ms rise 2 fall 2'

# write_cfg FILE: servers s0..s(N-1) at the instances slot-I names. Rewritten after every step
# (not reloaded) so that the file always says what the runtime state is.
write_cfg() {
    local body=$CHECKS i id
    for ((i = 0; i < HARNESS_INSTANCES; i++)); do
        read -r id <"$STATE/slot-$i"
        instance_addr "$id"
        body+=$'\n'"    server s$i $REPLY"
    done
    hx_write_cfg "$1" "$body"
}

# wait_drained SERVER TIMEOUT: waits until the server has no request in flight or queued.
# Going on after the timeout is deliberate: a stuck request must not stall the update forever.
wait_drained() {
    # shellcheck disable=SC2034 # dl is set through deadline's printf -v
    local server=$1 st scur qcur dl
    deadline dl "$2"
    while :; do
        hx_servers
        read -r st scur qcur _ <<<"${REPLY_MAP[$server]:-none 0 0}"
        if [[ ${scur:-0} == 0 && ${qcur:-0} == 0 ]]; then
            log "$server drained"
            return 0
        fi
        if expired dl; then
            warn "$server still has $scur request(s) in flight after ${2}s; going on"
            return 0
        fi
        sleep 0.05
    done
}

case $CMD in
deploy)
    if proc_alive haproxy; then die "already deployed: haproxy runs (pid $PROC_PID)"; fi
    require_port_free
    start_instances "$HARNESS_FROM" "${FROM_IDS[@]}"
    for ((i = 0; i < HARNESS_INSTANCES; i++)); do echo "${FROM_IDS[i]}" >"$STATE/slot-$i"; done
    write_cfg "$STATE/haproxy.cfg"
    hx_start
    for ((i = 0; i < HARNESS_INSTANCES; i++)); do wait_status "s$i" UP 30; done
    log "deployed $HARNESS_FROM: servers s0..s$((HARNESS_INSTANCES - 1)) UP, $URL/health answers"
    ;;

update)
    proc_alive haproxy || die "haproxy is not running (did deploy succeed?)"
    scaled 60 1; drain_timeout=$REPLY
    for ((i = 0; i < HARNESS_INSTANCES; i++)); do
        old=${FROM_IDS[i]} new=${TO_IDS[i]} srv="app/s$i"
        log "slot s$i: $old -> $new"
        start_instances "$HARNESS_TO" "$new"
        hx_set "set server $srv state drain"
        log "s$i draining (no new requests; waiting up to ${drain_timeout}s for in-flight ones)"
        wait_drained "s$i" "$drain_timeout"
        hx_set "set server $srv state maint"
        signal_procs TERM "$old"
        reap_procs "$STOP_TIMEOUT"
        instance_addr "$new"
        host=${REPLY%:*} port=${REPLY##*:}
        hx_api "set server $srv addr $host port $port"
        # The API answers in prose when it succeeds, too ("IP changed from ...").
        [[ $REPLY == *changed* || $REPLY == *"no need to change"* ]] ||
            die "HAProxy refused the new address of s$i: $REPLY"
        echo "$new" >"$STATE/slot-$i"
        # Leaving maintenance the slot is "UP 1/2" (serving, but one failed check takes it
        # down); plain "UP" means a check has reached the new instance.
        hx_set "set server $srv state ready"
        wait_status "s$i" UP 30
        log "s$i UP at $host:$port ($new)"
        write_cfg "$STATE/haproxy.cfg.new"
        mv -f "$STATE/haproxy.cfg.new" "$STATE/haproxy.cfg"
    done
    log "updated to $HARNESS_TO"
    ;;

status)
    status_from_gone || exit 1
    proc_alive haproxy || { log "not done: haproxy is not running"; exit 1; }
    hx_servers
    for ((i = 0; i < HARNESS_INSTANCES; i++)); do
        new=${TO_IDS[i]}
        proc_alive "$new" || { log "not done: instance $new does not run"; exit 1; }
        [[ -f $STATE/$new.addr ]] || { log "not done: instance $new has no address yet"; exit 1; }
        read -r addr <"$STATE/$new.addr"
        read -r st _ _ srv_addr <<<"${REPLY_MAP[s$i]:-none}"
        if [[ $st != UP || ${srv_addr:-} != "$addr" ]]; then
            log "not done: s$i is '$st' at '${srv_addr:-?}', not UP at $new's $addr"
            exit 1
        fi
    done
    log "done: every server runs $HARNESS_TO and no $HARNESS_FROM instance runs"
    ;;

teardown)
    # As in blue-green.sh: graceful USR1, then TERM.
    teardown_all haproxy USR1 TERM
    ;;
esac
