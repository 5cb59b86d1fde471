#!/usr/bin/env bash
# The command platform of scenarios/azure-slot-swap.toml and azure-flex-rolling.toml: this
# folder as an Azure Functions custom-handler app, updated from version A to B by
#   swap: a staging slot on an Elastic Premium (Linux) plan, swapped into production
#   flex: a Flex Consumption app whose site update strategy is RollingUpdate
#
#   deploy.sh swap|flex deploy | update | status | teardown
#   deploy.sh package ZIP      builds the app package only (no Azure calls)
#   deploy.sh settings         prints the app settings deploy would write (no Azure calls)
#
# NOT RUN on this project's CI machine (no Azure access there): written against the az CLI
# and Azure Functions documentation cited in deploy/azure-functions/README.md, checked by
# harness/tests/it/deployables.rs (file formats, `bash -n`). The app runs as a custom handler
# (README.md, "The app as a custom handler"), checked against the documented shapes only.
#
# From the harness: HARNESS_FROM, HARNESS_TO, HARNESS_INSTANCES, HARNESS_SINK_URL,
# HARNESS_SINK_TOKEN, HARNESS_STATE_DIR, HARNESS_TIME_SCALE, HARNESS_URL, HARNESS_DRIVER,
# HARNESS_WORK_ARGS, HARNESS_TIMER_EPOCH_NS, HARNESS_TIMER_PERIOD_NS.
# With driver "app" the Functions timer (tick) is the timer: the app's own timer flags in
# HARNESS_WORK_ARGS (--timer-*, --lease*) are taken out and given as HARNESS_TIMER_*
# settings instead, to number the timer's invocations (README.md). With any other driver
# the tick function is disabled.
# Yours:
#   AZ_RESOURCE_GROUP   resource group (created, and deleted at teardown, if missing)
#   AZ_APP_NAME         function app name (global: it is the host name APP.azurewebsites.net)
#   AZ_LOCATION         region (Flex: one of `az functionapp list-flexconsumption-locations`)
#   AZ_STORAGE_ACCOUNT  storage account for AzureWebJobsStorage (created if missing)
#   AZ_SUBSCRIPTION     subscription (default: az's current one)
#   AZ_PLAN_SKU         swap only: Elastic Premium SKU (default EP1)
#   AZ_HARNESS_BIN      the Linux x86-64 harness binary to ship (default:
#                       target/release/harness of this repository: `cargo build --release -p harness`)
# Needs: az (2.60 or later, for Flex Consumption), zip, curl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# tick/function.json's schedule, */10 * * * * *: every 10 s, on UTC multiples of 10 s.
tick_period_ns=10000000000

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

need() {
  local var
  for var in "$@"; do
    [[ -n "${!var:-}" ]] || die "$var is not set"
  done
}

az_() {
  if [[ -n "${AZ_SUBSCRIPTION:-}" ]]; then
    az "$@" --subscription "$AZ_SUBSCRIPTION" --only-show-errors
  else
    az "$@" --only-show-errors
  fi
}

state_dir() {
  need HARNESS_STATE_DIR
  mkdir -p "$HARNESS_STATE_DIR"
  printf '%s' "$HARNESS_STATE_DIR"
}

# Records a resource this run created, for teardown.
created() {
  echo "$1" >>"$(state_dir)/created"
}

was_created() {
  [[ -f "${HARNESS_STATE_DIR:-/nonexistent}/created" ]] && grep -qx "$1" "$HARNESS_STATE_DIR/created"
}

# The zip the Functions host runs: host.json, one folder per function, the binary at the
# root (host.json's defaultExecutablePath). Info-ZIP keeps the executable bit.
package() {
  local zip_path=$1 bin="${AZ_HARNESS_BIN:-$repo/target/release/harness}" pkg
  [[ "$zip_path" == /* ]] || zip_path="$PWD/$zip_path"
  [[ -f "$bin" ]] || die "$bin missing: cargo build --release -p harness (or set AZ_HARNESS_BIN)"
  [[ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" == '177ELF' ]] || die "$bin is not an ELF binary (the Functions host runs Linux)"
  command -v zip >/dev/null 2>&1 || die "zip is not installed"
  pkg=$(mktemp -d)
  cp "$here/host.json" "$pkg/"
  cp -R "$here/tick" "$here/api-tick" "$here/ping" "$pkg/"
  install -m 0755 "$bin" "$pkg/harness"
  rm -f "$zip_path"
  (cd "$pkg" && zip -q -X -r "$zip_path" .)
  rm -rf "$pkg"
}

checks() {
  need HARNESS_FROM HARNESS_TO HARNESS_SINK_URL HARNESS_URL AZ_RESOURCE_GROUP AZ_APP_NAME
  case "${HARNESS_TIME_SCALE:-1}" in
    1 | 1.0) ;;
    *) die "HARNESS_TIME_SCALE=$HARNESS_TIME_SCALE: Azure runs in real time; run with --time-scale 1" ;;
  esac
  if [[ "$(driver)" == app ]]; then
    need HARNESS_TIMER_EPOCH_NS HARNESS_TIMER_PERIOD_NS
    if ((HARNESS_TIMER_PERIOD_NS != tick_period_ns)); then
      die "workload.period is ${HARNESS_TIMER_PERIOD_NS} ns, tick/function.json fires every 10 s"
    fi
    if ((HARNESS_TIMER_EPOCH_NS % tick_period_ns != 0)); then
      die "the schedule's epoch ($HARNESS_TIMER_EPOCH_NS ns) is not on a UTC multiple of 10 s, where the NCRONTAB timer fires"
    fi
  fi
  case $HARNESS_SINK_URL in
    *SINK-HOST*) die "set [sink].url in the scenario to an address Azure can reach (it says SINK-HOST)" ;;
    https://*) die "the app's HTTP client has no TLS: give the sink an http:// URL" ;;
    http://127.* | http://localhost* | http://\[::1\]*) die "the sink URL $HARNESS_SINK_URL is loopback: Azure cannot reach it" ;;
  esac
  [[ -n "${HARNESS_SINK_TOKEN:-}" ]] || die "the sink is reached over the internet: set its token (HARNESS_SINK_TOKEN)"
  case $HARNESS_URL in
    https://*) die "platform.url must be http://: the harness's probe client has no TLS" ;;
  esac
}

# platform.url must be the app's own host name: new apps can get a unique default host name.
check_front_door_name() {
  local host want
  host=$(az_ functionapp show -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" --query defaultHostName -o tsv)
  want=${HARNESS_URL#http://}
  want=${want%%/*}
  want=${want%:*}
  [[ "$want" == "$host" ]] || die "platform.url names $want, the app's host name is $host: set [platform].url = \"http://$host:80\""
}

driver() {
  printf '%s' "${HARNESS_DRIVER:-app}"
}

# The tick function's switch: on only when the Functions timer is the scenario's driver.
tick_disabled() {
  if [[ "$(driver)" == app ]]; then
    printf false
  else
    printf true
  fi
}

# HARNESS_WORK_ARGS without the app's own timer and lease flags, which would start a second
# timer in every instance beside the Functions timer. Sets work_args, timer_first, timer_until.
split_work_args() {
  local -a words=() kept=()
  local i
  read -r -a words <<<"${HARNESS_WORK_ARGS:-}" || true
  timer_first=0
  timer_until=""
  for ((i = 0; i < ${#words[@]}; i++)); do
    case ${words[i]} in
      --timer-first) timer_first=${words[i + 1]:-0}; i=$((i + 1)) ;;
      --timer-until) timer_until=${words[i + 1]:-}; i=$((i + 1)) ;;
      --timer-epoch-ns | --timer-period-ns | --lease | --lease-ttl-ms) i=$((i + 1)) ;;
      *) kept+=("${words[i]}") ;;
    esac
  done
  work_args="${kept[*]+"${kept[*]}"}"
}

# Waits until platform.url's /api/ping answers with version $1, up to 5 minutes.
wait_version() {
  local url="${HARNESS_URL%/}/api/ping" i body
  for ((i = 0; i < 150; i++)); do
    body=$(curl -fsS --max-time 5 "$url" 2>/dev/null || true)
    if [[ "$body" == *"\"version\":\"$1\""* ]]; then
      return 0
    fi
    sleep 2
  done
  die "$url did not answer version $1 within 5 minutes (last answer: ${body:-none})"
}

group_and_storage() {
  need AZ_LOCATION AZ_STORAGE_ACCOUNT
  if [[ "$(az_ group exists -n "$AZ_RESOURCE_GROUP")" != true ]]; then
    az_ group create -n "$AZ_RESOURCE_GROUP" -l "$AZ_LOCATION" -o none
    created group
  fi
  if ! az_ storage account show -g "$AZ_RESOURCE_GROUP" -n "$AZ_STORAGE_ACCOUNT" -o none 2>/dev/null; then
    az_ storage account create -g "$AZ_RESOURCE_GROUP" -n "$AZ_STORAGE_ACCOUNT" -l "$AZ_LOCATION" \
      --sku Standard_LRS --allow-blob-public-access false -o none
    created storage
  fi
}

# Settings that travel with the deployment (not slot-sticky). TESTFN_WORK_ARGS is expanded
# into the handler's command line by host.json's arguments. HARNESS_TIMER_* are for the app
# to number the Functions timer's invocations and keep to the run's window
# [first, until); they are not TESTFN_TIMER_*, which would start the app's standalone timer
# beside the Functions timer (see README.md).
common_settings() {
  local work_args timer_first timer_until
  split_work_args
  printf '%s\n' \
    "TESTFN_SINK=$HARNESS_SINK_URL" \
    "TESTFN_SINK_TOKEN=${HARNESS_SINK_TOKEN:-}" \
    "TESTFN_WORK_ARGS=$work_args" \
    "HARNESS_TIMER_EPOCH_NS=${HARNESS_TIMER_EPOCH_NS:-0}" \
    "HARNESS_TIMER_PERIOD_NS=${HARNESS_TIMER_PERIOD_NS:-$tick_period_ns}" \
    "HARNESS_TIMER_FIRST=$timer_first" \
    "HARNESS_TIMER_UNTIL=$timer_until"
}

settings_set() { # [--slot SLOT] -- SETTING...
  local -a slot=()
  if [[ "$1" == --slot ]]; then
    slot=(--slot "$2")
    shift 2
  fi
  az_ functionapp config appsettings set -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" \
    ${slot[@]+"${slot[@]}"} "$@" -o none
}

lower() {
  printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}

deploy_swap() {
  local state zip plan="${AZ_APP_NAME}-plan" settings
  state=$(state_dir)
  zip="$state/app.zip"
  package "$zip"
  group_and_storage
  az_ functionapp plan create -g "$AZ_RESOURCE_GROUP" -n "$plan" -l "$AZ_LOCATION" \
    --sku "${AZ_PLAN_SKU:-EP1}" --is-linux --min-instances "${HARNESS_INSTANCES:-1}" -o none
  created plan
  az_ functionapp create -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" --plan "$plan" \
    --storage-account "$AZ_STORAGE_ACCOUNT" --os-type Linux --runtime custom --functions-version 4 -o none
  created app
  check_front_door_name
  mapfile -t settings < <(common_settings)

  # Production runs A. TESTFN_VERSION and TESTFN_INSTANCE move with the content at the swap;
  # TESTFN_SLOT and the timer's switch stay with the slot ("deployment slot settings").
  settings_set --settings "${settings[@]}" "TESTFN_VERSION=$HARNESS_FROM" \
    "TESTFN_INSTANCE=$(lower "$HARNESS_FROM")-0"
  settings_set --slot-settings TESTFN_SLOT=production "AzureWebJobs.tick.Disabled=$(tick_disabled)"
  az_ functionapp deployment source config-zip -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" --src "$zip" -o none
  wait_version "$HARNESS_FROM"

  # Staging runs B with its timer off: timers fire in every slot, and a staging timer would
  # add B's items to the run before the swap.
  az_ functionapp deployment slot create -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" --slot staging \
    --configuration-source "$AZ_APP_NAME" -o none
  settings_set --slot staging --settings "${settings[@]}" "TESTFN_VERSION=$HARNESS_TO" \
    "TESTFN_INSTANCE=$(lower "$HARNESS_TO")-0"
  settings_set --slot staging --slot-settings TESTFN_SLOT=staging AzureWebJobs.tick.Disabled=true
  az_ functionapp deployment source config-zip -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" \
    --slot staging --src "$zip" -o none
}

deploy_flex() {
  local state zip id settings
  state=$(state_dir)
  zip="$state/app.zip"
  package "$zip"
  group_and_storage
  # Unverified: that `--runtime custom` is accepted here (Flex lists its runtimes with
  # `az functionapp list-flexconsumption-runtimes --location REGION`).
  az_ functionapp create -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" --storage-account "$AZ_STORAGE_ACCOUNT" \
    --flexconsumption-location "$AZ_LOCATION" --runtime custom -o none
  created app
  check_front_door_name
  # Flex scales per function: the HTTP functions as one group, the timer on its own.
  az_ functionapp scale config always-ready set -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" \
    --settings "http=${HARNESS_INSTANCES:-1}" "function:tick=1" -o none
  # siteUpdateStrategy is set through ARM only (API 2023-12-01 or later); `az resource
  # update` reads the site, sets the one property and writes the whole site back. It takes
  # effect from the next site update on, so it comes before the code.
  id=$(az_ functionapp show -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" --query id -o tsv)
  az_ resource update --ids "$id" --api-version 2023-12-01 \
    --set properties.functionAppConfig.siteUpdateStrategy.type=RollingUpdate -o none
  mapfile -t settings < <(common_settings)
  # One TESTFN_INSTANCE for every instance: a stand-in, which overrides the app's per-instance
  # default (WEBSITE_INSTANCE_ID, else the host name; README.md, item 5).
  settings_set --settings "${settings[@]}" "TESTFN_VERSION=$HARNESS_FROM" TESTFN_SLOT=production \
    "TESTFN_INSTANCE=flex" "AzureWebJobs.tick.Disabled=$(tick_disabled)"
  az_ functionapp deployment source config-zip -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" --src "$zip" -o none
  wait_version "$HARNESS_FROM"
}

update_swap() {
  # Returns when the swap has completed (warm-up of staging, then the routing switch).
  az_ functionapp deployment slot swap -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME" \
    --slot staging --target-slot production -o none
}

update_flex() {
  # One site update (a setting, not code and a setting, which would start two overlapping
  # rolling updates): the same binary answers as version B from here on.
  settings_set --settings "TESTFN_VERSION=$HARNESS_TO"
}

teardown() {
  need AZ_RESOURCE_GROUP AZ_APP_NAME
  if was_created group; then
    az_ group delete -n "$AZ_RESOURCE_GROUP" --yes --no-wait
  else
    if was_created app; then
      az_ functionapp delete -g "$AZ_RESOURCE_GROUP" -n "$AZ_APP_NAME"
    fi
    if was_created plan; then
      az_ functionapp plan delete -g "$AZ_RESOURCE_GROUP" -n "${AZ_APP_NAME}-plan" --yes
    fi
    if was_created storage; then
      az_ storage account delete -g "$AZ_RESOURCE_GROUP" -n "$AZ_STORAGE_ACCOUNT" --yes
    fi
  fi
  rm -f "${HARNESS_STATE_DIR:-/nonexistent}/created"
}

mode=${1:-}
action=${2:-}
case "$mode:$action" in
  package:*)
    [[ -n "$action" ]] || die "usage: $0 package ZIP"
    package "$action"
    ;;
  settings:)
    need HARNESS_SINK_URL
    common_settings
    ;;
  swap:deploy)
    checks
    deploy_swap
    ;;
  flex:deploy)
    checks
    deploy_flex
    ;;
  swap:update | flex:update)
    need HARNESS_TO AZ_RESOURCE_GROUP AZ_APP_NAME
    "update_$mode"
    ;;
  # The swap command itself waits for the swap to complete.
  swap:status) exit 0 ;;
  flex:status) die "a Flex Consumption rolling update gives no completion signal (flex-consumption-site-updates); leave [platform].status out" ;;
  swap:teardown | flex:teardown) teardown ;;
  *)
    echo "usage: $0 swap|flex deploy|update|status|teardown, $0 package ZIP or $0 settings" >&2
    exit 2
    ;;
esac
