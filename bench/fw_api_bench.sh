#!/usr/bin/env bash
# Firewall control-plane latency through the REST API of a real adamd:
# replacing a ruleset of N random ClassBench-like rules (PUT /firewall/ruleset)
# and adding one rule while N exist (POST /firewall/rules), with the firewall
# running on a veth in a namespace of its own. Prints one JSON line.
# --pause-ms: a pause before each add (e.g. 1500: every add finds the
# previous ones compiled, as adds by hand do); 0: a burst, back to back.
# --scrapes: GET /metrics that often with the N rules loaded, and /healthz
# (the cheapest route: HTTP and curl alone) as many times as its peer.
# Usage: bench/fw_api_bench.sh [--rules 10000] [--adds 20] [--pause-ms 0] [--scrapes 20] [--build build]
set -euo pipefail
RULES=10000
ADDS=20
PAUSE_MS=0
SCRAPES=20
BUILD=build
while (($#)); do
  case "$1" in
    --rules) RULES=$2; shift 2 ;;
    --adds) ADDS=$2; shift 2 ;;
    --pause-ms) PAUSE_MS=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "fw_api_bench: needs root" >&2; exit 1; }
BUILD=$(realpath "$BUILD")
NS=adamt-apibench-$$
PIN_DIR=/sys/fs/bpf/adamt-apibench-$$
STATE=$(mktemp -d /tmp/adamt-apibench-XXXXXX)
ADAMD_PID=
cleanup() {
  [[ -n "$ADAMD_PID" ]] && kill "$ADAMD_PID" 2>/dev/null && wait "$ADAMD_PID" 2>/dev/null
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$PIN_DIR" "$STATE"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link add veth-x type veth peer name veth-y
ip -n "$NS" link set lo up
ip -n "$NS" link set veth-x up
ip -n "$NS" link set veth-y up
ip netns exec "$NS" "$BUILD/adamd" --state-dir "$STATE/adam" --pin-dir "$PIN_DIR" \
  --listen 127.0.0.1:19978 --log-level warn > "$STATE/adamd.log" 2>&1 &
ADAMD_PID=$!
for _ in $(seq 100); do
  ip netns exec "$NS" curl -sf http://127.0.0.1:19978/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
# Seconds one request takes, as curl measures it (fails on an HTTP error).
timed() {
  ip netns exec "$NS" curl -sf -o /dev/null -w '%{time_total}\n' \
    -H "Authorization: Bearer $(cat "$STATE/adam/admin.token")" -H 'Content-Type: application/json' \
    -X "$1" "http://127.0.0.1:19978$2" --data-binary "@$3"
}
echo '{"interfaces":["veth-x"]}' > "$STATE/start.json"
timed POST /api/v1/plugins/firewall/start "$STATE/start.json" >/dev/null
"$(dirname "$0")/random_ruleset.py" "$RULES" "$STATE/ruleset.json" 50 "$STATE/add"
replace_s=$(timed PUT /api/v1/firewall/ruleset "$STATE/ruleset.json")
adds=()
for ((i = 0; i < ADDS; i++)); do
  sleep "$(awk -v ms="$PAUSE_MS" 'BEGIN { print ms / 1000 }')"
  adds+=("$(timed POST /api/v1/firewall/rules "$STATE/add$((i % 50)).json")")
done
# Scrapes alternate with their peer, so both see the same machine.
scrapes=() healthz=()
for ((i = 0; i < SCRAPES; i++)); do
  scrapes+=("$(timed GET /metrics /dev/null)")
  healthz+=("$(timed GET /healthz /dev/null)")
done
metrics_bytes=$(ip netns exec "$NS" curl -sf http://127.0.0.1:19978/metrics | wc -c)
python3 - "$RULES" "$PAUSE_MS" "$replace_s" "$metrics_bytes" "${scrapes[*]}" "${healthz[*]}" "${adds[@]}" <<'PY'
import json, statistics, sys
rules, pause_ms, replace_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
metrics_bytes = int(sys.argv[4])
scrape_ms = [float(a) * 1000 for a in sys.argv[5].split()]
healthz_ms = [float(a) * 1000 for a in sys.argv[6].split()]
ms = sorted(float(a) * 1000 for a in sys.argv[7:])
scrape = {}
if scrape_ms:
    scrape = {"scrapes": len(scrape_ms), "metrics_bytes": metrics_bytes,
              "metrics_scrape_ms_median": round(statistics.median(scrape_ms), 2),
              "healthz_ms_median": round(statistics.median(healthz_ms), 2),
              "scrape_vs_healthz": round(statistics.median(scrape_ms) / statistics.median(healthz_ms), 2)}
print(json.dumps({"rules": rules, "replace_ruleset_ms": round(replace_s * 1000, 1), **scrape, "adds": len(ms),
                  "pause_ms": pause_ms,
                  "add_one_rule_ms_median": round(statistics.median(ms), 2),
                  "add_one_rule_ms_p90": round(ms[int(0.9 * (len(ms) - 1))], 2),
                  "add_one_rule_ms_max": round(ms[-1], 2),
                  "adds_over_10ms": sum(1 for x in ms if x >= 10)}))
PY
