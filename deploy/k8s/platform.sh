#!/usr/bin/env bash
# The command platform of scenarios/k8s-rolling.toml: a Deployment of the test function
# behind a NodePort Service, updated by a rolling update.
#
#   platform.sh deploy | update | status | teardown
#   platform.sh render     prints the Deployment that deploy would apply (touches nothing)
#
# NOT RUN on this project's CI machine (no cluster there): written against kubectl's
# documented behaviour, checked by harness/tests/it/deployables.rs (file formats, `bash -n`).
#
# From the harness: HARNESS_FROM, HARNESS_TO, HARNESS_INSTANCES, HARNESS_SINK_URL,
# HARNESS_SINK_TOKEN, HARNESS_STATE_DIR, HARNESS_TIME_SCALE, HARNESS_URL, HARNESS_PORT,
# HARNESS_WORK_ARGS (the pods' args: with driver "app" they carry the app's own timer,
# --timer-*, and its --lease), HARNESS_DRIVER.
# Yours (all optional):
#   K8S_CONTEXT          kubectl context (default: the current one)
#   K8S_NAMESPACE        namespace (default: harness; created, and deleted at teardown, if missing)
#   K8S_IMAGE            image of version A (default: testfn:dev, e.g. loaded with `kind load`)
#   K8S_IMAGE_B          image of version B (default: K8S_IMAGE; the version label still changes)
#   K8S_ACCESS           nodeport (default: platform.url reaches the Service's node port 30080)
#                        or port-forward (kubectl port-forward to HARNESS_PORT; it pins ONE
#                        pod, so downtime measured through it is not the Service's)
#   K8S_ROLLOUT_TIMEOUT  how long deploy waits for the first rollout (default 240s)
# Needs: kubectl, and curl for deploy's front-door check (skipped without it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ns="${K8S_NAMESPACE:-harness}"
image="${K8S_IMAGE:-testfn:dev}"
image_b="${K8S_IMAGE_B:-$image}"

die() {
  echo "platform.sh: $*" >&2
  exit 1
}

need() {
  local var
  for var in "$@"; do
    [[ -n "${!var:-}" ]] || die "$var is not set (the harness sets it for a command platform)"
  done
}

# kubectl in the chosen context and namespace.
kc() {
  if [[ -n "${K8S_CONTEXT:-}" ]]; then
    kubectl --context "$K8S_CONTEXT" --namespace "$ns" "$@"
  else
    kubectl --namespace "$ns" "$@"
  fi
}

state_dir() {
  need HARNESS_STATE_DIR
  mkdir -p "$HARNESS_STATE_DIR"
  printf '%s' "$HARNESS_STATE_DIR"
}

# A JSON string (also a YAML double-quoted scalar) of $1.
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# A JSON array of the whitespace-separated words of $1 (the harness's flags carry no spaces).
json_words() {
  local -a words=()
  local out="" w
  read -r -a words <<<"${1:-}" || true
  for w in ${words[@]+"${words[@]}"}; do
    out+="${out:+, }$(json_str "$w")"
  done
  printf '[%s]' "$out"
}

# The value that replaces a line marked `# platform.sh: KEY` in deployment.yaml.
marked_value() {
  case $1 in
    HARNESS_INSTANCES) printf '%s' "$HARNESS_INSTANCES" ;;
    K8S_IMAGE) printf '%s' "$image" ;;
    HARNESS_WORK_ARGS) json_words "${HARNESS_WORK_ARGS:-}" ;;
    HARNESS_FROM) json_str "$HARNESS_FROM" ;;
    *) die "deployment.yaml: unknown marker $1" ;;
  esac
}

# deployment.yaml with each marked line's value set; every marker must appear exactly once.
render_deployment() {
  local out=$1 line key seen=" "
  local re='^([[:space:]]*[^:#]+:)[[:space:]].*# platform\.sh: ([A-Z0-9_]+)$'
  : >"$out"
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" =~ $re ]]; then
      key=${BASH_REMATCH[2]}
      [[ "$seen" != *" $key "* ]] || die "deployment.yaml: marker $key appears twice"
      seen+="$key "
      printf '%s %s\n' "${BASH_REMATCH[1]}" "$(marked_value "$key")" >>"$out"
    else
      printf '%s\n' "$line" >>"$out"
    fi
  done <"$here/deployment.yaml"
  for key in HARNESS_INSTANCES K8S_IMAGE HARNESS_WORK_ARGS HARNESS_FROM; do
    [[ "$seen" == *" $key "* ]] || die "deployment.yaml: no line marked '# platform.sh: $key'"
  done
}

check_real_time() {
  case "${HARNESS_TIME_SCALE:-1}" in
    1 | 1.0) ;;
    *) die "HARNESS_TIME_SCALE=$HARNESS_TIME_SCALE: a real cluster runs in real time; run with --time-scale 1" ;;
  esac
}

check_sink() {
  need HARNESS_SINK_URL
  case $HARNESS_SINK_URL in
    *SINK-HOST*) die "set [sink].url in the scenario to an address of this machine the pods can reach (it says SINK-HOST)" ;;
    https://*) die "the app's HTTP client has no TLS: give the sink an http:// URL" ;;
  esac
  [[ -n "${HARNESS_SINK_TOKEN:-}" ]] || die "the sink listens off loopback: set its token (HARNESS_SINK_TOKEN)"
}

# Waits until platform.url answers /api/ping, up to 60 s.
wait_front_door() {
  local url="${HARNESS_URL%/}/api/ping" i
  if ! command -v curl >/dev/null 2>&1; then
    echo "platform.sh: no curl: not checking $url" >&2
    return 0
  fi
  for ((i = 0; i < 60; i++)); do
    if curl -fsS --max-time 2 "$url" >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  die "$url did not answer within 60 s (K8S_ACCESS=${K8S_ACCESS:-nodeport}: on kind, create the cluster with deploy/k8s/kind-cluster.yaml)"
}

deploy() {
  need HARNESS_FROM HARNESS_INSTANCES HARNESS_URL
  check_real_time
  check_sink
  local state
  state=$(state_dir)

  if ! kc get namespace "$ns" >/dev/null 2>&1; then
    kc create namespace "$ns" >/dev/null
    : >"$state/namespace-created"
  fi

  if [[ "${HARNESS_DRIVER:-}" == app && "$HARNESS_INSTANCES" -gt 1 && " ${HARNESS_WORK_ARGS:-} " != *" --lease "* ]]; then
    echo "platform.sh: driver \"app\" without a lease: each of the $HARNESS_INSTANCES replicas runs the timer" >&2
  fi
  kc create configmap testfn-env --from-literal=TESTFN_SINK="$HARNESS_SINK_URL" \
    --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc create secret generic testfn-sink --from-literal=TESTFN_SINK_TOKEN="$HARNESS_SINK_TOKEN" \
    --dry-run=client -o yaml | kc apply -f - >/dev/null

  render_deployment "$state/deployment.yaml"
  kc apply -f "$here/service.yaml" -f "$state/deployment.yaml"
  kc rollout status deployment/testfn --timeout="${K8S_ROLLOUT_TIMEOUT:-240s}"

  case "${K8S_ACCESS:-nodeport}" in
    nodeport) ;;
    port-forward)
      need HARNESS_PORT
      echo "platform.sh: K8S_ACCESS=port-forward pins one pod: the downtime it shows is not the Service's" >&2
      # No pipes back to the harness, and still in this command's process group, which the
      # harness kills at the end if teardown has not ended it by the id saved here.
      kubectl ${K8S_CONTEXT:+--context "$K8S_CONTEXT"} --namespace "$ns" \
        port-forward --address 127.0.0.1 service/testfn "$HARNESS_PORT:80" \
        </dev/null >"$state/port-forward.log" 2>&1 &
      echo $! >"$state/port-forward.pid"
      ;;
    *) die "K8S_ACCESS=$K8S_ACCESS: expected nodeport or port-forward" ;;
  esac
  wait_front_door
}

update() {
  need HARNESS_TO
  if [[ "$image_b" != "$image" ]]; then
    # One patch, one rollout: `kubectl set image` and then `kubectl set env` would start
    # two overlapping rollouts. A strategic merge patch merges containers and env by name.
    kc patch deployment testfn --type=strategic -p \
      "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"testfn\",\"image\":$(json_str "$image_b"),\"env\":[{\"name\":\"TESTFN_VERSION\",\"value\":$(json_str "$HARNESS_TO")}]}]}}}}"
  else
    kc set env deployment/testfn --containers=testfn TESTFN_VERSION="$HARNESS_TO"
  fi
}

# Exit 0 once the rollout is complete; `rollout status` also waits for the controller to
# observe the new spec, so it cannot report the previous rollout as this one.
status() {
  kc rollout status deployment/testfn --timeout=1s >&2
}

teardown() {
  local state="${HARNESS_STATE_DIR:-}"
  if [[ -n "$state" && -f "$state/port-forward.pid" ]]; then
    kill "$(cat "$state/port-forward.pid")" 2>/dev/null || true
    rm -f "$state/port-forward.pid"
  fi
  kc delete deployment/testfn service/testfn configmap/testfn-env secret/testfn-sink \
    --ignore-not-found --wait=false
  if [[ -n "$state" && -f "$state/namespace-created" ]]; then
    kc delete namespace "$ns" --ignore-not-found --wait=false
    rm -f "$state/namespace-created"
  fi
}

render() {
  need HARNESS_FROM HARNESS_INSTANCES
  local out
  out=$(mktemp)
  render_deployment "$out"
  cat "$out"
  rm -f "$out"
}

case "${1:-}" in
  deploy) deploy ;;
  render) render ;;
  update) update ;;
  status) status ;;
  teardown) teardown ;;
  *)
    echo "usage: $0 deploy|update|status|teardown|render" >&2
    exit 2
    ;;
esac
