#!/usr/bin/env bash
# Which capabilities adamd needs, found by trying: runs BUILD_DIR/adamd as root
# bounded (setpriv --bounding-set) to the unit's CapabilityBoundingSet=, then
# to that set minus each capability in turn, and each time checks that every
# plugin starts and works (tests/vm/plugin-checks.sh: firewall drop, monitor
# exec, LSM exec deny, balancer attached). Prints one line per run: the set
# and the checks that failed (each with its reason below it). docs/operations.md records the outcome.
#
#   packaging/verify-capabilities.sh BUILD_DIR [CAPABILITY...]
#
# Extra CAPABILITY arguments (cap_kill, ...) are tried added to the set too.
# Needs root; uses its own state dir, pin dir, port and the lab of
# plugin-checks.sh (netns pkgns, veth pkg0), all removed at exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
shift
extra=("$@")
. "$here/../tests/vm/plugin-checks.sh"
[[ $(id -u) == 0 ]] || {
  echo "verify-capabilities: run as root" >&2
  exit 2
}
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$here/adamd.service" | tr 'A-Z' 'a-z')
scratch=$(mktemp -d /tmp/adam-caps.XXXXXX)
pins=/sys/fs/bpf/adam-caps-$$
port=19988
export PATH=$build:$PATH ADAM_URL=http://127.0.0.1:$port
adamd_pid=
stop_adamd() {
  [[ -n $adamd_pid ]] && kill "$adamd_pid" 2>/dev/null && wait "$adamd_pid" 2>/dev/null
  adamd_pid=
  # adamd leaves its plugins enforcing through the pins: removing them takes
  # the programs out of the kernel before the next run.
  rm -rf "$pins"
}
trap 'stop_adamd; lab_down; rm -rf "$scratch"' EXIT

# run_with "cap_a cap_b ...": adamd bounded to that set, the checks' failures.
run_with() {
  local caps=$1 bounding
  bounding=-all$(for cap in $caps; do printf ',+%s' "${cap#cap_}"; done)
  rm -rf "$scratch/state"
  setpriv --bounding-set "$bounding" --inh-caps -all --no-new-privs \
    "$build/adamd" --state-dir "$scratch/state" --pin-dir "$pins" --listen "127.0.0.1:$port" \
    >"$scratch/adamd.log" 2>&1 &
  adamd_pid=$!
  local failed mechanism=none
  failures=0
  lab_up >"$scratch/checks.log"
  if until_ok 20 test -s "$scratch/state/admin.token" && until_ok 20 adamctl --token "$(cat "$scratch/state/admin.token")" node; then
    ADAM_TOKEN=$(cat "$scratch/state/admin.token") check_plugins >>"$scratch/checks.log"
    # Which mechanism enforces the exec deny: a lost capability can make the
    # lsm fall back (fanotify to a kill after exec) rather than fail.
    mechanism=$(ADAM_TOKEN=$(cat "$scratch/state/admin.token") adamctl lsm policies |
      grep -Eo 'bpf_lsm|fanotify|cgroup|signal' | head -n 1)
  else
    fail "adamctl node" "adamd did not answer: $(tail -n 2 "$scratch/adamd.log" | tr '\n' ' ')" >>"$scratch/checks.log"
  fi
  stop_adamd
  lab_down
  failed=$(sed -n 's/^PKG FAIL \([^:]*\):.*/\1/p' "$scratch/checks.log" | paste -sd, | sed 's/,/, /g')
  printf '%-40s lsm exec deny by %-9s %s\n' "${2:-the set of adamd.service}" "$mechanism" "${failed:-every check passed}"
  grep '^PKG FAIL' "$scratch/checks.log" | sed 's/^PKG FAIL /    /' | cut -c1-300
}

run_with "$unit_caps"
for cap in $unit_caps; do
  run_with "$(tr ' ' '\n' <<<"$unit_caps" | grep -vx "$cap" | paste -sd' ')" "without $cap"
done
run_with cap_sys_admin "only cap_sys_admin"
# CAP_SYS_ADMIN covers most of the others on its own: which of them the set
# needs once it is gone.
without_admin=$(tr ' ' '\n' <<<"$unit_caps" | grep -vx cap_sys_admin | paste -sd' ')
for cap in $without_admin; do
  run_with "$(tr ' ' '\n' <<<"$without_admin" | grep -vx "$cap" | paste -sd' ')" "without cap_sys_admin, $cap"
done
for cap in "${extra[@]}"; do
  run_with "$unit_caps $cap" "with $cap"
done
