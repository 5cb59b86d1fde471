#!/usr/bin/env bash
# Blue-green behind nginx: one upstream holds the live version's instances; update starts the
# other version's, points the upstream at them and reloads nginx (a graceful reload: new workers
# take new connections, old ones finish theirs), then stops the old instances.
#
#   blue-green.sh deploy|update|status|teardown      (the contract and environment: see ../lib.sh)
#
# Files in $HARNESS_STATE_DIR: nginx.conf, nginx.pid (nginx's own, for -s reload), nginx.proc
# (ours), nginx-error.log, nginx-access.log, nginx-tmp/, and per instance ID.out/.log/.addr/.proc.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
source "${HERE%/*}/lib.sh"
platform_init nginx-blue-green "${1:-}"

find_prog nginx nginx-light; NGINX=$REPLY
# -e: nginx opens its error log before it reads the config; the compiled-in default is outside
# the state dir. The same -p/-c/-e for every invocation, so -s reload finds our nginx.pid.
NGINX_ARGS=(-p "$STATE/" -c "$STATE/nginx.conf" -e "$STATE/nginx-error.log")

# write_conf FILE ADDR...: the whole config, every path inside the state dir.
write_conf() {
    local file=$1 addr servers=
    shift
    for addr in "$@"; do servers+="        server $addr;"$'\n'; done
    local user=
    # Workers would otherwise drop to nobody and could not write the root-owned state dir.
    ((EUID == 0)) && user='user root;'
    mkdir -p "$STATE/nginx-tmp"
    cat >"$file" <<EOF
# Written by $PLATFORM $CMD at $(_ts).
$user
worker_processes 1;
pid "$STATE/nginx.pid";
lock_file "$STATE/nginx.lock";
error_log "$STATE/nginx-error.log" notice;

events {
    worker_connections 4096;
}

http {
    access_log "$STATE/nginx-access.log" combined buffer=64k flush=1s;
    client_body_temp_path "$STATE/nginx-tmp/client_body";
    proxy_temp_path "$STATE/nginx-tmp/proxy";
    fastcgi_temp_path "$STATE/nginx-tmp/fastcgi";
    uwsgi_temp_path "$STATE/nginx-tmp/uwsgi";
    scgi_temp_path "$STATE/nginx-tmp/scgi";
    client_max_body_size 64m;

    upstream app {
$servers        # Reuse connections to the instances (needs HTTP/1.1 and no Connection header).
        keepalive 32;
        keepalive_timeout 60s;
    }

    server {
        listen 127.0.0.1:$HARNESS_PORT;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_connect_timeout 5s;
            # /tick runs up to ~10 s x scale; the harness may stretch it.
            proxy_send_timeout 300s;
            proxy_read_timeout 300s;
        }
    }
}
EOF
}

# check_conf FILE: nginx -t, with nginx's complaint as the error.
check_conf() {
    local out
    if ! out=$("$NGINX" -p "$STATE/" -c "$1" -e "$STATE/nginx-error.log" -t 2>&1); then
        die "nginx -t rejected $1: $(grep -E '\[(emerg|alert|crit)\]' <<<"$out" | head -n 1)"
    fi
}

# addrs_of ID...: REPLY_ARR = their addresses.
addrs_of() {
    local id addrs=()
    for id in "$@"; do instance_addr "$id"; addrs+=("$REPLY"); done
    REPLY_ARR=("${addrs[@]}")
}

case $CMD in
deploy)
    if proc_alive nginx; then die "already deployed: nginx runs (pid $PROC_PID)"; fi
    require_port_free
    start_instances "$HARNESS_FROM" "${FROM_IDS[@]}"
    addrs_of "${FROM_IDS[@]}"
    write_conf "$STATE/nginx.conf" "${REPLY_ARR[@]}"
    check_conf "$STATE/nginx.conf"
    log "starting nginx on $URL (upstream: ${REPLY_ARR[*]})"
    "$NGINX" "${NGINX_ARGS[@]}" -g 'daemon off;' >"$STATE/nginx.stdout" 2>&1 </dev/null &
    record_proc nginx $!
    # nginx retries a busy port for ~2.5 s before it gives up; wait_http reports its [emerg].
    wait_http "$URL/health" 30 nginx "$STATE/nginx-error.log" nginx
    proc_alive nginx || true
    log "deployed $HARNESS_FROM: $URL/health answers through nginx (master pid $PROC_PID)"
    ;;

update)
    proc_alive nginx || die "nginx is not running (did deploy succeed?)"
    start_instances "$HARNESS_TO" "${TO_IDS[@]}"
    addrs_of "${TO_IDS[@]}"
    # Test the new config before it replaces the live one, so a bad one leaves nginx untouched.
    write_conf "$STATE/nginx.conf.new" "${REPLY_ARR[@]}"
    check_conf "$STATE/nginx.conf.new"
    mv -f "$STATE/nginx.conf.new" "$STATE/nginx.conf"
    log "upstream -> ${REPLY_ARR[*]}; nginx -s reload"
    out=$("$NGINX" "${NGINX_ARGS[@]}" -s reload 2>&1) || die "nginx -s reload failed: $out"
    # -s reload only sends SIGHUP; the reload has happened once new connections reach TO.
    hand_over nginx
    ;;

status)
    blue_green_status nginx
    ;;

teardown)
    # QUIT: nginx's graceful stop (idle connections closed, in-flight ones finished); TERM: fast.
    teardown_all nginx QUIT TERM
    ;;
esac
