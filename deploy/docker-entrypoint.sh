#!/usr/bin/env bash
# The container image's entrypoint (deploy/Dockerfile): runs the test function,
#   harness testfn --listen $TESTFN_LISTEN [ARGS...]
# with its version, instance and sink from the environment, as `harness testfn` reads them:
#   TESTFN_VERSION   the version label, e.g. A (required)
#   TESTFN_SINK      the sink's base URL, e.g. http://10.0.0.5:4000 (required)
#   TESTFN_INSTANCE  the instance id; default: the host name (a pod's name on Kubernetes)
#   TESTFN_LISTEN    the listen address; default 0.0.0.0:8080 (set in the image)
#   TESTFN_SINK_TOKEN, TESTFN_TIMER_EPOCH_NS, TESTFN_TIMER_PERIOD_NS: read by the app itself
# Extra arguments (the container's args, e.g. `--items 10 --item-delay-ns 1000000000`) are
# passed on to `harness testfn`. Run by harness/tests/it/deployables.rs in the image
# deploy/build-image-here.sh builds.
set -euo pipefail

if [[ -z "${TESTFN_INSTANCE:-}" ]]; then
  # bash sets HOSTNAME; the kernel's value is the fallback for a bare environment.
  TESTFN_INSTANCE="${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}"
fi
export TESTFN_INSTANCE
: "${TESTFN_VERSION:?set TESTFN_VERSION, the version label the items carry (e.g. A)}"
: "${TESTFN_SINK:?set TESTFN_SINK, the base URL of the sink the app submits to}"

exec /usr/local/bin/harness testfn --listen "${TESTFN_LISTEN:-0.0.0.0:8080}" "$@"
