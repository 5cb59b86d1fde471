# shellcheck shell=bash
# Shared by the real-platform scripts (nginx/blue-green.sh, haproxy/blue-green.sh,
# haproxy/rolling.sh). Sourced, never run.
#
# The harness's command-platform contract, in short: it runs `SCRIPT deploy`, `SCRIPT update`,
# polls `SCRIPT status` until it exits 0, and always ends with `SCRIPT teardown` (also after a
# failure, a timeout or Ctrl-C). Each command runs in its own process group, which the harness
# SIGKILLs after teardown as a backstop, so nothing here daemonizes or calls setsid: every
# server is a background job of the command that started it. All state (configs, records of
# pids, logs, sockets) lives in $HARNESS_STATE_DIR, so parallel deployments never share a file.
#
# Environment: HARNESS_STATE_DIR, HARNESS_PORT (the front door, on 127.0.0.1), HARNESS_FROM and
# HARNESS_TO (version labels; instance ids are "a-0", "b-1", ...), HARNESS_INSTANCES,
# HARNESS_APP_COMMAND and HARNESS_WORK_ARGS (shell words), HARNESS_SINK_URL, HARNESS_TIME_SCALE
# (scales our own delays: hand-over, drain, stop timeouts; each has a floor).
#
# Needs: bash >= 4.4, curl, coreutils, awk, perl (perl-base, Essential on Debian: it speaks
# to HAProxy's unix sockets because bash cannot), and nginx or haproxy.

# ---- logging ---------------------------------------------------------------------------------
# Each command's stdout and stderr go to the same log file, one timestamped line per step.

_ts() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
log() { printf '%s %s %s: %s\n' "$(_ts)" "$PLATFORM" "$CMD" "$*"; }
warn() { printf '%s %s %s: warning: %s\n' "$(_ts)" "$PLATFORM" "$CMD" "$*" >&2; }
# The contract wants one line on stderr per failure, so newlines in a message are folded.
die() {
    local msg="$*"
    printf '%s %s %s: error: %s\n' "$(_ts)" "$PLATFORM" "$CMD" "${msg//$'\n'/ | }" >&2
    exit 1
}

# set -e alone exits silently; this names the command that failed instead. A subshell only
# passes its status up, so its parent reports the failure once.
_on_err() {
    local rc=$1 line=$2 cmd=$3
    if ((BASH_SUBSHELL == 0)); then
        printf '%s %s %s: error: unexpected failure (exit %s) at %s:%s: %s\n' \
            "$(_ts)" "$PLATFORM" "$CMD" "$rc" "${BASH_SOURCE[1]##*/}" "$line" "$cmd" >&2
    fi
    exit "$rc"
}

# ---- time --------------------------------------------------------------------------------------

# scaled SECONDS FLOOR: REPLY = max(SECONDS x HARNESS_TIME_SCALE, FLOOR), in seconds. The floor
# exists because process start-up and reloads take real time whatever the scale.
scaled() {
    REPLY=$(awk -v s="$1" -v f="$2" -v k="${HARNESS_TIME_SCALE:-1}" \
        'BEGIN { v = s * k; if (v < f) v = f; printf "%.3f", v }')
}

# REPLY = now, in milliseconds (EPOCHREALTIME's separator follows the locale, hence the strip).
_now_ms() {
    local t=${EPOCHREALTIME//[!0-9]/}
    REPLY=$((10#$t / 1000))
}

# deadline VAR SECONDS: VAR = the time, in ms, SECONDS (may be fractional) from now.
deadline() {
    local s=$2 i f=
    i=${s%%.*}
    if [[ $s == *.* ]]; then f=${s#*.}; fi
    f="${f}000"
    _now_ms
    printf -v "$1" '%s' $((REPLY + 10#${i:-0} * 1000 + 10#${f:0:3}))
}

# expired VAR: true once the deadline in VAR has passed.
expired() {
    _now_ms
    ((REPLY >= ${!1}))
}

# ---- set-up ------------------------------------------------------------------------------------

# platform_init NAME COMMAND: checks the environment, sets STATE, URL, FROM_IDS, TO_IDS and the
# timings, and moves into the state dir (HAProxy's sockets are named relative to it: a unix
# socket path holds at most 108 bytes and a run dir can be deeper than that).
platform_init() {
    PLATFORM=$1
    CMD=${2:-}
    trap '_on_err $? $LINENO "$BASH_COMMAND"' ERR
    set -E
    case $CMD in
        deploy | update | status | teardown) ;;
        *) CMD=usage; die "usage: $0 deploy|update|status|teardown (got '${2:-}')" ;;
    esac

    [[ -n ${HARNESS_STATE_DIR:-} ]] || die "HARNESS_STATE_DIR is not set"
    [[ -d $HARNESS_STATE_DIR ]] || die "HARNESS_STATE_DIR '$HARNESS_STATE_DIR' is not a directory"
    STATE=$(cd "$HARNESS_STATE_DIR" && pwd -P)
    cd "$STATE" || die "cannot enter $STATE"

    # Instances get SIGTERM and this long to finish their runs (up to ~10 s x scale) before SIGKILL.
    scaled 30 5; STOP_TIMEOUT=$REPLY
    START_TIMEOUT=30
    [[ $CMD == teardown ]] && return 0

    local v
    for v in HARNESS_PORT HARNESS_FROM HARNESS_TO HARNESS_INSTANCES; do
        [[ -n ${!v:-} ]] || die "$v is not set"
    done
    if ! [[ $HARNESS_PORT =~ ^[0-9]+$ ]] || ((HARNESS_PORT < 1 || HARNESS_PORT > 65535)); then
        die "HARNESS_PORT '$HARNESS_PORT' is not a TCP port"
    fi
    [[ $HARNESS_INSTANCES =~ ^[1-9][0-9]{0,2}$ ]] || die "HARNESS_INSTANCES '$HARNESS_INSTANCES' is not a count"
    # Labels become file and server names.
    for v in HARNESS_FROM HARNESS_TO; do
        [[ ${!v} =~ ^[A-Za-z0-9_]+$ ]] || die "$v '${!v}' is not a plain version label"
    done
    [[ ${HARNESS_FROM,,} != "${HARNESS_TO,,}" ]] || die "HARNESS_FROM and HARNESS_TO are both '$HARNESS_TO'"
    if [[ $CMD == deploy || $CMD == update ]]; then
        for v in HARNESS_APP_COMMAND HARNESS_SINK_URL; do
            [[ -n ${!v:-} ]] || die "$v is not set"
        done
    fi

    URL="http://127.0.0.1:$HARNESS_PORT"
    FROM_IDS=() TO_IDS=()
    local i
    for ((i = 0; i < HARNESS_INSTANCES; i++)); do
        FROM_IDS+=("${HARNESS_FROM,,}-$i")
        TO_IDS+=("${HARNESS_TO,,}-$i")
    done
    scaled 2 0.2
    # shellcheck disable=SC2034 # used by the blue-green scripts
    HANDOVER=$REPLY
}

# find_prog NAME PACKAGE: REPLY = the program's path (root's PATH has /usr/sbin, CI's may not).
find_prog() {
    REPLY=$(command -v "$1" 2>/dev/null) || REPLY=
    [[ -n $REPLY ]] || { [[ -x /usr/sbin/$1 ]] && REPLY=/usr/sbin/$1; } ||
        die "$1 not found (Debian package $2)"
}

# last_line FILE: REPLY = its last non-blank line, for error messages that say why a process
# died. first_line FILE REGEX: the first line matching REGEX instead (a server that fails to
# start says why first, then sums up: "still could not bind()").
last_line() {
    REPLY=
    [[ -f $1 ]] || return 0
    REPLY=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1) || true
}
first_line() {
    REPLY=
    [[ -f $1 ]] || return 0
    REPLY=$(grep -m 1 -E -- "$2" "$1") || last_line "$1"
}

# ---- processes -----------------------------------------------------------------------------------
# Every process we start is recorded in $STATE/NAME.proc as "PID STARTTIME". The start time
# (field 22 of /proc/PID/stat) guards against pid reuse: a later command (teardown after a
# crash, say) must never signal a stranger that inherited a dead instance's pid while parallel
# tests churn through pids.

# _stat PID: sets _ST_STATE and _ST_START and _ST_PPID from /proc/PID/stat; false if it has gone.
_stat() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) } # the command name may hold spaces and parentheses
    # shellcheck disable=SC2086
    set -- $stat
    _ST_STATE=$1 _ST_PPID=$2 _ST_START=${20}
}

# _matches PID START: the same process as recorded, and not a zombie.
_matches() {
    _stat "$1" || return 1
    [[ $_ST_START == "$2" && $_ST_STATE != Z && $_ST_STATE != X ]]
}

record_proc() {
    local name=$1 pid=$2 start=-
    if _stat "$pid"; then start=$_ST_START; fi
    printf '%s %s\n' "$pid" "$start" >"$STATE/$name.proc"
}

# proc_alive NAME: true if NAME's recorded process still runs; sets PROC_PID and PROC_START.
proc_alive() {
    PROC_PID='' PROC_START=''
    [[ -f $STATE/$1.proc ]] || return 1
    read -r PROC_PID PROC_START <"$STATE/$1.proc" || return 1
    [[ $PROC_PID =~ ^[0-9]+$ ]] || return 1
    _matches "$PROC_PID" "$PROC_START"
}

# _descendants PID: appends "PID:START" of every descendant to _TREE. Taken when a server is
# signalled and again before it is SIGKILLed, so that its workers (nginx's do not notice that
# their master died) can be found although a master that exits re-parents them.
_descendants() {
    local root=$1 f pid
    local -A kids=()
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}; pid=${pid%/stat}
        _stat "$pid" || continue
        kids[$_ST_PPID]+=" $pid"
    done
    local -a queue=("$root")
    while ((${#queue[@]})); do
        pid=${queue[0]}; queue=("${queue[@]:1}")
        for f in ${kids[$pid]:-}; do
            if _stat "$f"; then _TREE+=("$f:$_ST_START"); fi
            queue+=("$f")
        done
    done
}

_TARGETS=() _TREE=() _LEFT=()

# signal_procs [-r] SIGNAL NAME...: signals each recorded process that still runs, remembering
# it (and its descendants) for reap_procs. Quiet about names that are not running: teardown
# must work whatever state a half-done deploy left. -r: reap_procs repeats the signal every
# second, because a server that has not installed its handlers yet loses it (the shell starts
# background jobs with SIGQUIT ignored, and nginx sets its handlers only after binding).
signal_procs() {
    local again=- sig name
    if [[ $1 == -r ]]; then again=r; shift; fi
    sig=$1
    shift
    for name in "$@"; do
        proc_alive "$name" || continue
        _descendants "$PROC_PID"
        log "stopping $name (pid $PROC_PID) with SIG$sig"
        kill -s "$sig" "$PROC_PID" 2>/dev/null || true
        _TARGETS+=("$PROC_PID:$PROC_START:$name:$sig:$again")
    done
}

# await_procs TIMEOUT: waits up to TIMEOUT seconds for what signal_procs signalled to exit;
# false if some still run. Repeats -r signals every second meanwhile.
await_procs() {
    # shellcheck disable=SC2034 # dl and next are set through deadline's printf -v
    local t pid start name sig again dl next
    deadline dl "$1"
    deadline next 1
    while :; do
        _LEFT=()
        for t in "${_TARGETS[@]}"; do
            IFS=: read -r pid start name sig again <<<"$t"
            if _matches "$pid" "$start"; then _LEFT+=("$t"); fi
        done
        ((${#_LEFT[@]})) || return 0
        expired dl && return 1
        if expired next; then
            for t in "${_LEFT[@]}"; do
                IFS=: read -r pid start name sig again <<<"$t"
                if [[ $again == r ]]; then kill -s "$sig" "$pid" 2>/dev/null || true; fi
            done
            deadline next 1
        fi
        sleep 0.05
    done
}

# escalate_procs SIGNAL: sends SIGNAL to what still runs of the signalled processes, and makes
# it the one that -r repeats.
escalate_procs() {
    local t pid start name sig again i
    for i in "${!_TARGETS[@]}"; do
        IFS=: read -r pid start name sig again <<<"${_TARGETS[i]}"
        _matches "$pid" "$start" || continue
        log "$name (pid $pid) still runs after SIG$sig: SIG$1"
        kill -s "$1" "$pid" 2>/dev/null || true
        _TARGETS[i]="$pid:$start:$name:$1:$again"
    done
}

# reap_procs TIMEOUT: waits up to TIMEOUT seconds for what signal_procs signalled to exit, then
# SIGKILLs what is left of them and of their descendants.
reap_procs() {
    # shellcheck disable=SC2034 # dl is set through deadline's printf -v
    local t pid start name dl
    if ! await_procs "$1"; then
        for t in "${_LEFT[@]}"; do
            IFS=: read -r pid start name _ <<<"$t"
            warn "$name (pid $pid) still runs after ${1}s: SIGKILL"
            # Frozen, it cannot fork while its children are listed (an nginx master that was
            # stuck retrying its bind starts its workers late).
            kill -s STOP "$pid" 2>/dev/null || true
            _descendants "$pid"
            kill -s KILL "$pid" 2>/dev/null || true
        done
    fi
    # Workers outlive a SIGKILLed master; anything of the tree still here now is left over.
    local killed=0
    for t in "${_TREE[@]}"; do
        IFS=: read -r pid start <<<"$t"
        if _matches "$pid" "$start"; then
            kill -s KILL "$pid" 2>/dev/null || true
            killed=$((killed + 1))
        fi
    done
    ((killed == 0)) || warn "SIGKILLed $killed left-over child process(es)"
    # SIGKILL is asynchronous: wait (briefly) until they are really gone, so that whoever runs
    # next can rely on ports and files being free.
    deadline dl 5
    for t in "${_TARGETS[@]}" "${_TREE[@]}"; do
        IFS=: read -r pid start _ <<<"$t"
        while _matches "$pid" "$start" && ! expired dl; do sleep 0.05; done
    done
    _TARGETS=() _TREE=()
}

# ---- app instances ---------------------------------------------------------------------------------

# start_instance VERSION INDEX: starts one instance in the background (id "a-0"); its address
# appears later as the first line of $STATE/ID.out (see wait_instance).
start_instance() {
    local version=$1 id="${1,,}-$2"
    rm -f "$STATE/$id".{out,log,addr,proc}
    log "starting instance $id (version $version)"
    # HARNESS_APP_COMMAND and HARNESS_WORK_ARGS are shell words: split them, but never glob
    # them. exec keeps $! the app's own pid, so signals reach the app and not a wrapper shell.
    (
        set -f
        # shellcheck disable=SC2086
        exec $HARNESS_APP_COMMAND --listen 127.0.0.1:0 --version "$version" --instance "$id" \
            --slot production --sink "$HARNESS_SINK_URL" ${HARNESS_WORK_ARGS:-}
    ) >"$STATE/$id.out" 2>"$STATE/$id.log" </dev/null &
    record_proc "$id" $!
}

# wait_instance ID: waits (bounded) for the address the instance prints once it has bound,
# saves it in $STATE/ID.addr and checks /health directly.
wait_instance() {
    local id=$1 line dl
    deadline dl "$START_TIMEOUT"
    while :; do
        # read fails until the line is complete (has its newline).
        if IFS= read -r line 2>/dev/null <"$STATE/$id.out"; then break; fi
        if ! proc_alive "$id"; then
            first_line "$STATE/$id.log" '[Ee]rror|ERROR|panicked|[Nn]ot found|No such file'
            die "instance $id exited before printing its address (${REPLY:-no log line}; see $STATE/$id.log)"
        fi
        expired dl && die "instance $id printed no address within ${START_TIMEOUT}s (see $STATE/$id.log)"
        sleep 0.05
    done
    [[ $line =~ ^[0-9.]+:[0-9]+$ ]] || die "instance $id printed '$line' instead of HOST:PORT"
    printf '%s\n' "$line" >"$STATE/$id.addr"
    wait_http "http://$line/health" 10 "$id" "$STATE/$id.log" "instance $id"
    proc_alive "$id" || true
    log "instance $id ready at $line (pid $PROC_PID)"
}

# start_instances VERSION ID...: starts them all, then waits for each: start-ups overlap.
start_instances() {
    local version=$1 id
    shift
    for id in "$@"; do start_instance "$version" "${id##*-}"; done
    for id in "$@"; do wait_instance "$id"; done
}

# instance_addr ID: REPLY = HOST:PORT it serves on.
instance_addr() {
    REPLY=
    [[ -f $STATE/$1.addr ]] || die "instance $1 has no recorded address"
    read -r REPLY <"$STATE/$1.addr"
}

# instance_procs: REPLY_ARR = the names of every recorded instance (anything but the proxy).
instance_procs() {
    local f name
    REPLY_ARR=()
    for f in "$STATE"/*.proc; do
        [[ -e $f ]] || continue
        name=${f##*/}; name=${name%.proc}
        [[ $name == "$1" ]] || REPLY_ARR+=("$name")
    done
}

# ---- HTTP ------------------------------------------------------------------------------------------

# --noproxy: a CI's http_proxy must not capture requests to 127.0.0.1.
CURL=(curl --noproxy '*' --silent --show-error --connect-timeout 2 --max-time 5)

# wait_http URL TIMEOUT NAME LOGFILE WHAT: waits for a 2xx from URL while NAME's process lives.
wait_http() {
    local url=$1 name=$3 logf=$4 what=$5 err='' dl
    deadline dl "$2"
    while :; do
        if err=$("${CURL[@]}" --fail -o /dev/null "$url" 2>&1); then return 0; fi
        if ! proc_alive "$name"; then
            first_line "$logf" '\[(emerg|alert|crit|ALERT)\]'
            die "$what exited before $url answered (${REPLY:-no log line}; see $logf)"
        fi
        expired dl && die "$what: $url did not answer within ${2}s (${err:-no answer})"
        sleep 0.1
    done
}

# wait_version VERSION TIMEOUT NAME: waits until the front door's /api/ping reports VERSION.
wait_version() {
    local want=$1 body='' dl
    deadline dl "$2"
    while :; do
        body=$("${CURL[@]}" --fail "$URL/api/ping" 2>&1) || true
        if [[ $body =~ \"version\"[[:space:]]*:[[:space:]]*\"$want\" ]]; then return 0; fi
        proc_alive "$3" || die "$3 died during the update"
        expired dl && die "$URL/api/ping did not report version $want within ${2}s (last: ${body:-nothing})"
        sleep 0.05
    done
}

# serves_version VERSION: one probe of the front door (for status).
serves_version() {
    local body
    body=$("${CURL[@]}" --fail "$URL/api/ping" 2>&1) || { REPLY="no answer: $body"; return 1; }
    REPLY=$body
    [[ $body =~ \"version\"[[:space:]]*:[[:space:]]*\"$1\" ]]
}

# require_port_free: a front door that answers /health on a port someone else holds would make
# deploy succeed against the wrong server.
require_port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$HARNESS_PORT") 2>/dev/null; then
        die "port $HARNESS_PORT on 127.0.0.1 is already taken"
    fi
}

# status_from_gone: true when no instance of FROM runs; otherwise says which one does.
status_from_gone() {
    local id
    for id in "${FROM_IDS[@]}"; do
        if proc_alive "$id"; then
            log "not done: instance $id ($HARNESS_FROM) still runs (pid $PROC_PID)"
            return 1
        fi
    done
}

# hand_over SERVER: once SERVER serves TO, waits the hand-over delay and stops every FROM
# instance (the second half of a blue-green update).
hand_over() {
    wait_version "$HARNESS_TO" 15 "$1"
    log "$1 serves $HARNESS_TO; hand-over delay ${HANDOVER}s before stopping $HARNESS_FROM"
    sleep "$HANDOVER"
    signal_procs TERM "${FROM_IDS[@]}"
    reap_procs "$STOP_TIMEOUT"
    log "updated to $HARNESS_TO"
}

# blue_green_status SERVER: exits 0 when no FROM instance runs and SERVER serves TO.
blue_green_status() {
    status_from_gone || exit 1
    proc_alive "$1" || { log "not done: $1 is not running"; exit 1; }
    serves_version "$HARNESS_TO" || { log "not done: $URL/api/ping: $REPLY"; exit 1; }
    log "done: no $HARNESS_FROM instance runs and $1 serves $HARNESS_TO"
}

# teardown_all PROXY GRACEFUL FAST: stops the front door first (so nothing new reaches the
# instances), then every instance ever recorded. The proxy gets its graceful stop signal, a
# moment (2 s x scale, floor 0.5 s) to finish in-flight requests, then its fast one (the run is
# over: an idle keep-alive client must not hold teardown up), then SIGKILL. Idempotent: names
# that are not running are skipped.
teardown_all() {
    local proxy=$1
    signal_procs -r "$2" "$proxy"
    scaled 2 0.5
    if ! await_procs "$REPLY"; then escalate_procs "$3"; fi
    reap_procs 5
    instance_procs "$proxy"
    if ((${#REPLY_ARR[@]})); then
        signal_procs TERM "${REPLY_ARR[@]}"
        reap_procs "$STOP_TIMEOUT"
    fi
    local name
    for name in "$proxy" "${REPLY_ARR[@]}"; do
        if proc_alive "$name"; then die "$name (pid $PROC_PID) survived SIGKILL"; fi
    done
    log "teardown done: nothing of this deployment runs"
}

# ---- HAProxy ---------------------------------------------------------------------------------------
# Both HAProxy scripts run it in master-worker mode (-W, no -D: it stays a job of the deploy
# command). The master CLI (-S master.sock) reports reloads; the stats socket (admin.sock) is
# the runtime API. On a reload the new worker takes the bound listening socket over from the
# old one instead of binding again: 2.6's master does it over its own socketpair (ps shows
# `-x sockpair@N`); `expose-fd listeners` lets the same happen through admin.sock (`-x
# admin.sock`, as older versions and hand-run reloads need). noreuseport below proves it: a
# new worker that had to bind would fail on the port the old one holds.

# A tiny client for HAProxy's sockets. The half-close matters: the master CLI answers only once
# it sees the end of the request (curl's telnet:// never sends one and hangs).
# shellcheck disable=SC2016 # perl code, expanded by perl
_HX_PERL='
use IO::Socket::UNIX;
alarm 10;
my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "cannot connect to $ARGV[0]: $!\n";
print $s "$ARGV[1]\n";
shutdown($s, 1);
print while <$s>;
'

# hx_cli SOCKET COMMAND: REPLY = HAProxy's answer; false if the socket does not answer.
hx_cli() {
    REPLY=$(perl -e "$_HX_PERL" "$1" "$2" 2>&1)
}

# hx_api COMMAND: runtime API call that must succeed; REPLY = the answer.
hx_api() {
    hx_cli admin.sock "$1" || die "HAProxy's stats socket did not answer '$1': $REPLY"
}

# hx_set COMMAND: a runtime API call that answers nothing when it succeeds.
hx_set() {
    hx_api "$1"
    [[ -z ${REPLY//[[:space:]]/} ]] || die "HAProxy refused '$1': $REPLY"
}

hx_init() {
    find_prog haproxy haproxy; HAPROXY=$REPLY
    command -v perl >/dev/null || die "perl not found (Debian package perl-base)"
}

# hx_write_cfg FILE BACKEND_BODY: the config shared by both HAProxy scripts; the backend's
# body (balance, checks, servers) is theirs.
hx_write_cfg() {
    cat >"$1" <<EOF
# Written by $PLATFORM $CMD at $(_ts). Sockets are relative to the state dir (the cwd).
global
    # expose-fd listeners: the listening socket can be handed to a new process (seamless reload).
    stats socket unix@admin.sock mode 600 level admin expose-fd listeners
    stats timeout 2m
    # By default HAProxy binds with SO_REUSEPORT, so two deployments handed the same port would
    # silently share it; the fd hand-over makes reuseport unnecessary for reloads.
    noreuseport
    maxconn 4096
    # An old worker finishes its in-flight (possibly long) requests, then exits; this bounds it.
    hard-stop-after 5m
    # Failed requests only (dontlog-normal + log-separate-errors): HAProxy already writes its
    # own warnings (server state changes, reloads) to stderr, which is haproxy.log too.
    log stderr format raw local0 err

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    option log-separate-errors
    option http-keep-alive
    # On a reload the old worker would close its idle client connections at once, racing
    # clients that send on them that instant (wrk counts read errors). With this it answers
    # their next request with "Connection: close" instead, as nginx cannot. The price: an old
    # worker lives until its clients' next request or timeout http-keep-alive.
    option idle-close-on-response
    http-reuse safe
    option redispatch
    retries 3
    timeout connect 5s
    timeout client 300s
    # /tick runs up to ~10 s x scale; the harness may stretch it.
    timeout server 300s
    timeout http-request 30s
    timeout http-keep-alive 75s
    timeout queue 30s
    timeout check 2s

frontend front_door
    bind 127.0.0.1:$HARNESS_PORT
    default_backend app

backend app
$2
EOF
}

# hx_check_cfg FILE: haproxy -c, with its complaint as the error.
hx_check_cfg() {
    local out
    if ! out=$("$HAPROXY" -c -f "$1" 2>&1); then
        die "haproxy -c rejected $1: $(grep -E 'ALERT' <<<"$out" | head -n 2 | tr '\n' ' ')"
    fi
}

# hx_start: starts HAProxy on $STATE/haproxy.cfg and waits until the front door answers.
hx_start() {
    require_port_free
    hx_check_cfg "$STATE/haproxy.cfg"
    log "starting haproxy (master-worker) on $URL"
    "$HAPROXY" -W -S unix@master.sock -f "$STATE/haproxy.cfg" -p "$STATE/haproxy.pid" \
        >>"$STATE/haproxy.log" 2>&1 </dev/null &
    local pid=$!
    record_proc haproxy "$pid"
    wait_http "$URL/health" 30 haproxy "$STATE/haproxy.log" haproxy
    log "haproxy (master pid $pid) answers $URL/health"
}

# _hx_proc: parses the master CLI's `show proc`: sets HX_RELOADS, HX_FAILED (failed reloads
# since the last success) and HX_WORKER (the worker of the current generation: reloads 0).
_hx_proc() {
    hx_cli master.sock "show proc" || return 1
    local line section=
    HX_RELOADS='' HX_FAILED=0 HX_WORKER=''
    while read -r line; do
        case $line in
            '# workers'*) section=workers; continue ;;
            '#'*) section=; continue ;;
        esac
        # shellcheck disable=SC2086
        set -- $line
        if [[ ${2:-} == master ]]; then
            HX_RELOADS=$3
            [[ $line =~ failed:\ *([0-9]+) ]] && HX_FAILED=${BASH_REMATCH[1]}
        elif [[ $section == workers && ${2:-} == worker && ${3:-} == 0 ]]; then
            HX_WORKER=$1
        fi
    done <<<"$REPLY"
    [[ -n $HX_RELOADS ]]
}

# hx_reload: seamless reload (SIGUSR2 to the master, which re-executes itself on the rewritten
# config) and proof that it took: the master counted one more reload, none failed, and a new
# worker serves. A failed reload leaves the old worker serving; it is still an error.
hx_reload() {
    proc_alive haproxy || die "haproxy is not running"
    local master=$PROC_PID before old dl
    _hx_proc || die "HAProxy's master CLI does not answer: $REPLY"
    before=$HX_RELOADS old=$HX_WORKER
    log "reloading haproxy (SIGUSR2 to master $master; worker ${old:-?} serves)"
    kill -s USR2 "$master"
    deadline dl 20
    while :; do
        # The CLI is briefly unavailable while the master re-executes itself.
        if _hx_proc && ((HX_RELOADS > before)); then
            if ((HX_FAILED > 0)); then
                # The first complaint after the last reload is the one that says why.
                REPLY=$(awk '/Reloading HAProxy/ { a = "" } /ALERT/ && a == "" { a = $0 } END { print a }' \
                    "$STATE/haproxy.log")
                die "haproxy reload failed, the old worker still serves (${REPLY:-see haproxy.log})"
            fi
            if [[ -n $HX_WORKER && $HX_WORKER != "$old" ]]; then break; fi
        fi
        proc_alive haproxy || die "haproxy's master died during the reload (see $STATE/haproxy.log)"
        expired dl && die "haproxy did not finish reloading within 20s (see $STATE/haproxy.log)"
        sleep 0.05
    done
    log "haproxy reloaded: new worker $HX_WORKER (reload $HX_RELOADS)"
}

# hx_servers: REPLY_MAP[NAME]="status scur qcur addr" for each server of backend app, from
# `show stat` (fields found by their header names, not positions).
hx_servers() {
    declare -gA REPLY_MAP=()
    hx_api "show stat"
    local name rest
    while read -r name rest; do
        [[ -n $name ]] && REPLY_MAP[$name]=$rest
    done < <(awk -F, '
        NR == 1 { sub(/^# */, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == "app" && $2 != "BACKEND" && $2 != "FRONTEND" {
            st = $col["status"]; gsub(/ /, "_", st)
            print $2, st, $col["scur"], $col["qcur"], $col["addr"]
        }' <<<"$REPLY")
}

# wait_status SERVER WANT TIMEOUT: waits until the server's status (e.g. UP) is WANT.
wait_status() {
    # shellcheck disable=SC2034 # dl is set through deadline's printf -v
    local server=$1 want=$2 dl st=''
    deadline dl "$3"
    while :; do
        hx_servers
        read -r st _ <<<"${REPLY_MAP[$server]:-none}"
        [[ $st == "$want" ]] && return 0
        proc_alive haproxy || die "haproxy died (see $STATE/haproxy.log)"
        expired dl && die "server $server is '$st', not $want, after ${3}s"
        sleep 0.05
    done
}
