#!/usr/bin/env bash
# The REST API under load while the firewall logs a UDP flood: 50 clients
# (wrk, bench/api_load.lua), one wrk per route family, connections split
#   reads  20 (node, plugins, firewall rules and stats, metrics, healthz),
#   events 20 (time ranges, filters, cursor pages, the histogram),
#   rules  10 (POST a rule, then DELETE it: the set stays bounded),
# for --seconds, against a real adamd in a namespace of its own whose firewall
# holds a drop rule with log: true for the flood's port. Two runs of the same
# mix, one after the other: "idle" (no flood) first, the peer, then "flood"
# (udp_flood from a second namespace through a veth for the whole run).
# Each family's p50/p99 latency, requests/s and errors per run (wrk: at the
# client); per route, adamd's own p50/p99 time to answer (the increase of its
# adamd_http_request_duration_seconds histogram over the run, interpolated
# within its buckets as Prometheus' histogram_quantile does); the ratio
# p99 under flood / p99 idle; and the flood's accounting: packets sent, the
# packets the log rule counted, and of those the events stored and the
# events lost by reason (adamd_events_lost_total{plugin="firewall"}), which
# must add up; what the firewall never saw is accounted for by the veth's
# and the backlog's drop counters. Prints one JSON line; exits 1 when a
# request failed or a counted packet is neither stored nor lost.
# Usage: bench/api_load.sh [--seconds 60] [--log-rate 20000] [--build build]
set -euo pipefail
shopt -s inherit_errexit
SECONDS_PER_RUN=60
LOG_RATE=20000
BUILD=build
while (($#)); do
  case "$1" in
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --log-rate) LOG_RATE=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "api_load: needs root" >&2; exit 1; }
command -v wrk >/dev/null || { echo "api_load: wrk is missing: apt-get install wrk" >&2; exit 1; }
BUILD=$(realpath "$BUILD")
[[ -x $BUILD/adamd && -x $BUILD/bench/udp_flood ]] || { echo "api_load: build adamd and udp_flood first" >&2; exit 1; }
LUA=$(realpath "$(dirname "$0")/api_load.lua")
. "$(dirname "$0")/support/veth_lab.sh"
NS_A=adamt-load-$$-a
NS_B=adamt-load-$$-b
PIN_DIR=/sys/fs/bpf/adamt-load-$$
STATE=$(mktemp -d /tmp/adamt-load-XXXXXX)
PORT=9999
API=http://127.0.0.1:19979
ADAMD_PID= FLOOD_PID=

cleanup() {
  [[ -n "$FLOOD_PID" ]] && kill "$FLOOD_PID" 2>/dev/null && wait "$FLOOD_PID" 2>/dev/null
  [[ -n "$ADAMD_PID" ]] && kill "$ADAMD_PID" 2>/dev/null && wait "$ADAMD_PID" 2>/dev/null
  veth_lab_down
  rm -rf "$PIN_DIR" "$STATE"
}
trap cleanup EXIT

veth_lab_up

# nsenter, not `ip netns exec`: that remounts /sys for the namespace, without
# the host's bpffs at /sys/fs/bpf where the pins go.
nsenter --net="/run/netns/$NS_B" "$BUILD/adamd" --state-dir "$STATE/adam" --pin-dir "$PIN_DIR" \
  --listen 127.0.0.1:19979 --log-level warn > "$STATE/adamd.log" 2>&1 &
ADAMD_PID=$!
for _ in $(seq 600); do  # a loaded machine takes a while to start adamd
  [[ -s "$STATE/adam/admin.token" ]] && ip netns exec "$NS_B" curl -sf "$API/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
[[ -s "$STATE/adam/admin.token" ]] || { echo "api_load: adamd did not start:" >&2; cat "$STATE/adamd.log" >&2; exit 1; }
TOKEN=$(cat "$STATE/adam/admin.token")
api() {
  ip netns exec "$NS_B" curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -X "$1" "$API$2" ${3:+--data-binary "$3"}
}
api POST /api/v1/plugins/firewall/start \
  "{\"interfaces\":[\"veth-b\"],\"log_rate\":$LOG_RATE,\"log_rate_total\":$LOG_RATE}" >/dev/null
RULE_ID=$(api POST /api/v1/firewall/rules \
  "{\"name\":\"flood log\",\"priority\":1,\"action\":\"drop\",\"log\":true,\"match\":{\"proto\":[\"udp\"],\"dst_port\":[$PORT]}}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

# What the flood's accounting reads, as one JSON object: the log rule's
# packets, the firewall's stored events and lost ones by reason (from
# /metrics), the events queue, and the drops before the firewall's hook.
snapshot() {
  {
    api GET "/api/v1/firewall/counters?ids=$RULE_ID"
    echo
    ip netns exec "$NS_B" curl -sf "$API/metrics" | grep -E '^adamd_events_(stored|lost)_total\{plugin="firewall"|^adamd_events_queue_depth' || true
    echo '#veth'
    ip -s -j -n "$NS_B" link show veth-b
    echo
    ip -s -j -n "$NS_A" link show veth-a
    echo
    echo '#softnet'
    ip netns exec "$NS_B" cat /proc/net/softnet_stat
  } | python3 -c '
import json, re, sys
rule = sys.argv[1]
text = sys.stdin.read()
head, rest = text.split("#veth\n")
veth, softnet = rest.split("#softnet\n")
lines = head.split("\n")
packets = json.loads(lines[0])["counters"].get(rule, {"packets": 0})["packets"]
stored, lost, depth = 0, {}, 0
for line in lines[1:]:
    m = re.match(r"adamd_events_(stored|lost)_total\{(.*)\} (\S+)", line)
    if m:
        value = int(float(m.group(3)))
        reason = re.search(r"reason=\"(\w+)\"", m.group(2))
        if m.group(1) == "stored":
            stored = value
        else:
            lost[reason.group(1)] = value
    elif line.startswith("adamd_events_queue_depth"):
        depth = int(float(line.split()[-1]))
b, a = [json.loads(x)[0]["stats64"] for x in veth.split("\n") if x.strip()]
backlog = sum(int(row.split()[1], 16) for row in softnet.split("\n") if row.strip())
print(json.dumps({"rule_packets": packets, "stored": stored, "lost": lost, "queue_depth": depth,
                  "veth_b_rx_dropped": b["rx"]["dropped"], "veth_a_tx_dropped": a["tx"]["dropped"],
                  "backlog_dropped": backlog}))' "$RULE_ID"
}

# The three wrk processes of one run at once; each prints its family's JSON line.
run_mix() {
  local name=$1 pids=()
  ip netns exec "$NS_B" curl -sf "$API/metrics" > "$STATE/$name-metrics-before.txt"
  for spec in reads:20:2 events:20:2 rules:10:1; do
    IFS=: read -r family conns threads <<< "$spec"
    ip netns exec "$NS_B" wrk -t "$threads" -c "$conns" -d "${SECONDS_PER_RUN}s" --timeout 10s --latency \
      -s "$LUA" "$API" -- "$family" "$TOKEN" "$RULE_ID" > "$STATE/$name-$family.out" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  ip netns exec "$NS_B" curl -sf "$API/metrics" > "$STATE/$name-metrics-after.txt"
  for family in reads events rules; do
    grep '^{"family"' "$STATE/$name-$family.out" ||
      { echo "api_load: wrk $family printed no result:" >&2; cat "$STATE/$name-$family.out" >&2; exit 1; }
  done > "$STATE/$name.jsonl"
}

# The events written by the flood are all in before they are counted: the
# queue is empty and the totals stopped moving.
settled() {
  local previous= now
  for _ in $(seq 60); do
    now=$(snapshot)
    if [[ $now == "$previous" ]] && python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1])["queue_depth"] != 0)' "$now"; then
      echo "$now"
      return
    fi
    previous=$now
    sleep 1
  done
  echo "api_load: the event totals did not settle: $now" >&2
  exit 1
}

run_mix idle
before=$(settled)
ip netns exec "$NS_A" "$BUILD/bench/udp_flood" send --dst 198.51.100.2 --port $PORT \
  --seconds "$((SECONDS_PER_RUN + 2))" > "$STATE/send.json" &
FLOOD_PID=$!
sleep 1  # the flood is on before the first request
run_mix flood
wait "$FLOOD_PID"
FLOOD_PID=
after=$(settled)
rules_left=$(api GET /api/v1/firewall/rules | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["rules"]))')

python3 - "$STATE" "$SECONDS_PER_RUN" "$LOG_RATE" "$before" "$after" "$rules_left" <<'PY'
import json, re, sys
state, seconds, log_rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def histograms(path):
    """adamd_http_request_duration_seconds of one /metrics text: per "METHOD route",
    the cumulative count of each bucket bound (inf for +Inf)."""
    out = {}
    for line in open(path):
        m = re.match(r'adamd_http_request_duration_seconds_bucket\{method="(\w+)",route="([^"]*)",le="([^"]+)"\} (\S+)', line)
        if m:
            le = float("inf") if m.group(3) == "+Inf" else float(m.group(3))
            out.setdefault(f"{m.group(1)} {m.group(2)}", {})[le] = float(m.group(4))
    return out

def quantile(q, buckets):
    """histogram_quantile as Prometheus computes it: linear within the bucket;
    above the last finite bound, that bound (">" in the answer)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    rank, lower, below = q * total, 0.0, 0.0
    for le in bounds:
        if buckets[le] >= rank:
            if le == float("inf"):
                return f">{lower * 1000:g}"
            inside = buckets[le] - below
            return round((lower + (le - lower) * ((rank - below) / inside if inside else 1)) * 1000, 3)
        lower, below = le, buckets[le]

def route_latency(name):
    """Per route, adamd's own time to answer during run `name` (the delta of its
    histogram over the run): requests, p50 and p99 in ms."""
    before, after = histograms(f"{state}/{name}-metrics-before.txt"), histograms(f"{state}/{name}-metrics-after.txt")
    out = {}
    for route, buckets in sorted(after.items()):
        delta = {le: n - before.get(route, {}).get(le, 0) for le, n in buckets.items()}
        if route.endswith(" /metrics") and delta[float("inf")] <= 2:
            continue  # only this script's own two reads
        if delta[float("inf")] > 0:
            out[route] = {"requests": int(delta[float("inf")]), "p50_ms": quantile(0.5, delta),
                          "p99_ms": quantile(0.99, delta)}
    return out

before, after, rules_left = json.loads(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6])
runs = {name: {r["family"]: r for r in map(json.loads, open(f"{state}/{name}.jsonl"))} for name in ("idle", "flood")}
sent = json.load(open(f"{state}/send.json"))["packets"]
delta = lambda key: after[key] - before[key]
lost = {k: v - before["lost"].get(k, 0) for k, v in after["lost"].items() if v - before["lost"].get(k, 0)}
counted = delta("rule_packets")
stored = delta("stored")
before_hook = {k: delta(k) for k in ("veth_a_tx_dropped", "veth_b_rx_dropped", "backlog_dropped")}
errors = sum(r["non_2xx"] + r["socket_errors"] for run in runs.values() for r in run.values())
flood = {"sent": sent, "counted_by_rule": counted, "events_stored": stored, "events_lost": lost,
         "counted_not_stored_or_lost": counted - stored - sum(lost.values()),
         "dropped_before_firewall": before_hook,
         "sent_not_counted_or_dropped": sent - counted - sum(before_hook.values())}
print(json.dumps({
    "seconds": seconds, "clients": 50, "log_rate": log_rate, "runs": runs, "errors": errors,
    "p99_flood_vs_idle": {f: round(runs["flood"][f]["p99_ms"] / runs["idle"][f]["p99_ms"], 2) for f in runs["idle"]},
    "rps_flood_vs_idle": {f: round(runs["flood"][f]["rps"] / runs["idle"][f]["rps"], 2) for f in runs["idle"]},
    "server_latency_by_route": {name: route_latency(name) for name in ("idle", "flood")},
    "flood": flood, "rules_left": rules_left}))
sys.exit(1 if errors or flood["counted_not_stored_or_lost"] else 0)
PY
