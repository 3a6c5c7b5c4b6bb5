#!/usr/bin/env bash
# Server time of the console's pages on real adamds, as curl measures it
# (time_starttransfer, median of N), next to /healthz in the same run (the
# cheapest route: HTTP and curl alone). With --rules random rules loaded on
# A and on B (HTTPS, self-signed): A's /firewall and / (dashboard); B's
# /firewall and / straight and through A (/m/{id}/firewall, /m/{id}/: the
# difference is what the proxy adds); A's /fleet with 20 registered
# machines (entries over the adamds of this run, one of them stopped:
# unreachable). All adamds run in one namespace of its own, on its
# loopback. Prints one JSON line.
# Usage: bench/console_pages.sh [--rules 10000] [--runs 20] [--build build]
set -euo pipefail
RULES=10000
RUNS=20
BUILD=build
while (($#)); do
  case "$1" in
    --rules) RULES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "console_pages: needs root" >&2; exit 1; }
BUILD=$(realpath "$BUILD")
NS=adamt-pagebench-$$
STATE=$(mktemp -d /tmp/adamt-pagebench-XXXXXX)
NAMES=(a b c d gone)
declare -A PORT=([a]=19981 [b]=19982 [c]=19983 [d]=19984 [gone]=19985) PID=()
cleanup() {
  for n in "${!PID[@]}"; do kill "${PID[$n]}" 2>/dev/null && wait "${PID[$n]}" 2>/dev/null; done
  ip netns delete "$NS" 2>/dev/null || true
  for n in "${NAMES[@]}"; do rm -rf "/sys/fs/bpf/adamt-pagebench-$$-$n"; done
  rm -rf "$STATE"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link add veth-x type veth peer name veth-y
for l in lo veth-x veth-y; do ip -n "$NS" link set "$l" up; done
for n in "${NAMES[@]}"; do
  tls=()
  [[ $n != a ]] && tls=(--tls-self-signed)
  ip netns exec "$NS" "$BUILD/adamd" --state-dir "$STATE/$n" --pin-dir "/sys/fs/bpf/adamt-pagebench-$$-$n" \
    --listen "127.0.0.1:${PORT[$n]}" --log-level warn "${tls[@]}" > "$STATE/$n.log" 2>&1 &
  PID[$n]=$!
done
url() { if [[ $1 == a ]]; then echo "http://127.0.0.1:${PORT[a]}"; else echo "https://127.0.0.1:${PORT[$1]}"; fi; }
token() { cat "$STATE/$1/admin.token"; }
for n in "${NAMES[@]}"; do
  for _ in $(seq 100); do
    ip netns exec "$NS" curl -skf "$(url "$n")/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
# curl on machine $1: method, path, body file; prints the body.
call() {
  ip netns exec "$NS" curl -skf -H "Authorization: Bearer $(token "$1")" -H 'Content-Type: application/json' \
    -X "$2" "$(url "$1")$3" ${4:+--data-binary "@$4"}
}
# Seconds to the first byte of a GET on machine $1 (fails on an HTTP error).
ttfb() {
  ip netns exec "$NS" curl -skf -o /dev/null -w '%{time_starttransfer}\n' \
    -H "Authorization: Bearer $(token "$1")" "$(url "$1")$2"
}
"$(dirname "$0")/random_ruleset.py" "$RULES" "$STATE/ruleset.json"
echo '{"interfaces":["veth-x"]}' > "$STATE/start-a.json"
echo '{"interfaces":["veth-y"]}' > "$STATE/start-b.json"
call a POST /api/v1/plugins/firewall/start "$STATE/start-a.json" >/dev/null
call b POST /api/v1/plugins/firewall/start "$STATE/start-b.json" >/dev/null
call a PUT /api/v1/firewall/ruleset "$STATE/ruleset.json" >/dev/null
call b PUT /api/v1/firewall/ruleset "$STATE/ruleset.json" >/dev/null
# 20 registry entries: B first, then C, D round-robin, and one for "gone".
register() {
  printf '{"name":"%s","url":"%s","token":"%s"}' "$1" "$(url "$2")" "$(token "$2")" > "$STATE/machine.json"
  call a POST /api/v1/machines "$STATE/machine.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
B_ID=$(register b b)
for i in $(seq 2 19); do register "m$i" "$([[ $((i % 2)) == 0 ]] && echo c || echo d)" >/dev/null; done
register gone gone >/dev/null
kill "${PID[gone]}" && wait "${PID[gone]}" 2>/dev/null || true
unset 'PID[gone]'
sleep 5  # two poller rounds: the fleet page has its state
healthz=() firewall=() dashboard=() direct=() proxied=() dash_direct=() dash_proxied=() fleet=()
# Interleaved, so every page sees the same machine.
for ((i = 0; i < RUNS; i++)); do
  healthz+=("$(ttfb a /healthz)")
  firewall+=("$(ttfb a /firewall)")
  dashboard+=("$(ttfb a /)")
  direct+=("$(ttfb b /firewall)")
  proxied+=("$(ttfb a "/m/$B_ID/firewall")")
  dash_direct+=("$(ttfb b /)")
  dash_proxied+=("$(ttfb a "/m/$B_ID/")")
  fleet+=("$(ttfb a /fleet)")
done
unreachable=$(ip netns exec "$NS" curl -sf -H "Authorization: Bearer $(token a)" "$(url a)/fleet" | grep -c 'data-state="unreachable"' || true)
python3 - "$RULES" "$unreachable" "${healthz[*]}" "${firewall[*]}" "${dashboard[*]}" "${direct[*]}" "${proxied[*]}" "${dash_direct[*]}" "${dash_proxied[*]}" "${fleet[*]}" <<'PY'
import json, statistics, sys
rules, unreachable = int(sys.argv[1]), int(sys.argv[2])
med = [statistics.median(float(x) * 1000 for x in a.split()) for a in sys.argv[3:]]
healthz, firewall, dashboard, direct, proxied, dash_direct, dash_proxied, fleet = med
r = lambda x: round(x, 2)
print(json.dumps({"rules": rules, "runs": len(sys.argv[3].split()), "healthz_ms": r(healthz),
                  "firewall_page_ms": r(firewall), "firewall_vs_healthz": r(firewall / healthz),
                  "dashboard_page_ms": r(dashboard), "dashboard_vs_healthz": r(dashboard / healthz),
                  "b_firewall_direct_https_ms": r(direct), "b_firewall_through_a_ms": r(proxied),
                  "proxy_adds_to_firewall_ms": r(proxied - direct),
                  "b_dashboard_direct_https_ms": r(dash_direct), "b_dashboard_through_a_ms": r(dash_proxied),
                  "proxy_adds_to_dashboard_ms": r(dash_proxied - dash_direct),
                  "fleet_page_20_machines_ms": r(fleet), "fleet_vs_healthz": r(fleet / healthz),
                  "fleet_unreachable_rows": unreachable}))
PY
