#!/usr/bin/env bash
# The load balancer against kube-proxy's way, end to end through namespaces:
# the lab of tests/support/lb_lab.h (a bridge; a client, a balancer and three
# backends that hold the VIP 203.0.113.10 on lo), a UDP flood of `--flows`
# 5-tuples from the client to the VIP, and the packets per second the
# backends' receivers get in all, through
#   adam: adamd in the balancer namespace with the lb plugin on its veth
#         (l2dsr: the MAC rewritten, XDP_TX back onto the segment), the three
#         backends at equal weights, no health checks;
#   nft:  nftables DNAT to the three backends with `numgen inc mod 3` in the
#         balancer's prerouting (kube-proxy's nftables mode), forwarded by
#         the balancer's kernel (ip_forward 1).
# The balancer namespace has ip_forward 0 and no rules while ADAM runs, and
# no lb plugin while nft runs: each column's packets reach the backends only
# through what it measures. Measured in `--rounds` rounds, each round both
# columns one after the other (the order alternating); the figures are the
# medians over the rounds, the ratio the median of the rounds' ratios, so
# slow drifts of a shared machine cancel out. Every round is printed to
# stderr. The last line is JSON: adam_pps, nft_pps, ratio, and what the
# client sent (adam_sent_pps, nft_sent_pps).
# On one machine every packet's whole way (the client's UDP stack, the
# bridge twice, the balancer, a backend's stack) runs in the sending CPU's
# softirqs: the sent rate is the path's rate, and what the balancer saves
# is a part of the path's cost, not all of it (docs/BENCHMARKS.md).
# Usage: bench/lb_vs_nft.sh [--seconds 5] [--rounds 3] [--flows 64] [--build build]
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
SECONDS_PER_RUN=5
ROUNDS=3
FLOWS=64
BUILD=build
while (($#)); do
  case "$1" in
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "lb_vs_nft: needs root" >&2; exit 1; }
command -v nft >/dev/null || { echo "lb_vs_nft: nft is missing: apt-get install nftables" >&2; exit 1; }
BUILD=$(realpath "$BUILD")
[[ -x $BUILD/adamd && -x $BUILD/bench/udp_flood ]] || { echo "lb_vs_nft: $BUILD/adamd or $BUILD/bench/udp_flood is missing: build the tree first" >&2; exit 1; }
# The tests' "adamt" prefix with this script's pid: tests/cleanup-leftovers.sh
# leaves them alone while the script runs and removes them if it crashed.
PREFIX=adamt-bench-$$
PIN_DIR=/sys/fs/bpf/$PREFIX
STATE=$(mktemp -d /tmp/adamt-bench-XXXXXX)
VIP=203.0.113.10
PORT=9999
API_PORT=19978
BACKENDS=(b1 b2 b3)
declare -A ADDR=([client]=198.51.100.1 [balancer]=198.51.100.2 [b1]=198.51.100.11 [b2]=198.51.100.12 [b3]=198.51.100.13)
ns() { echo "$PREFIX-$1"; }
ADAMD_PID=

cleanup() {
  [[ -n "$ADAMD_PID" ]] && kill "$ADAMD_PID" 2>/dev/null && wait "$ADAMD_PID" 2>/dev/null
  for h in sw client balancer "${BACKENDS[@]}"; do
    ip netns pids "$(ns "$h")" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns delete "$(ns "$h")" 2>/dev/null || true
  done
  rm -rf "$PIN_DIR" "$STATE"
}
trap cleanup EXIT

# The lab: a bridge in "sw", every host on it through its veth0.
ip netns add "$(ns sw)"
ip -n "$(ns sw)" link add br0 type bridge mcast_snooping 0
ip -n "$(ns sw)" link set br0 up
for h in client balancer "${BACKENDS[@]}"; do
  ip netns add "$(ns "$h")"
  ip -n "$(ns sw)" link add "p-$h" type veth peer name veth0 netns "$(ns "$h")"
  ip -n "$(ns sw)" link set "p-$h" master br0 up
  ip -n "$(ns "$h")" addr add "${ADDR[$h]}/24" dev veth0
  ip -n "$(ns "$h")" link set lo up
  ip -n "$(ns "$h")" link set veth0 up
done
ip -n "$(ns client)" route add "$VIP/32" via "${ADDR[balancer]}"
for b in "${BACKENDS[@]}"; do
  ip -n "$(ns "$b")" addr add "$VIP/32" dev lo
  for dev in all veth0; do
    ip netns exec "$(ns "$b")" sysctl -qw "net.ipv4.conf.$dev.arp_ignore=1" "net.ipv4.conf.$dev.arp_announce=2" \
      "net.ipv4.conf.$dev.rp_filter=0"
  done
done
ip netns exec "$(ns balancer)" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.veth0.send_redirects=0
for h in balancer "${BACKENDS[@]}"; do ip netns exec "$(ns client)" ping -q -c 1 -W 2 "${ADDR[$h]}" >/dev/null; done
# The balancer's neighbours too (the lb plugin resolves them, nft's forwarding
# would on its first packet).
for b in "${BACKENDS[@]}"; do ip netns exec "$(ns balancer)" ping -q -c 1 -W 2 "${ADDR[$b]}" >/dev/null; done

# Delivered pps summed over the backends' receivers for one flood; the
# backends' shares go to $STATE/shares.
measure() {
  local pids=()
  for b in "${BACKENDS[@]}"; do
    ip netns exec "$(ns "$b")" "$BUILD/bench/udp_flood" recv --port $PORT --seconds "$SECONDS_PER_RUN" > "$STATE/recv-$b.json" &
    pids+=($!)
  done
  sleep 0.3
  ip netns exec "$(ns client)" "$BUILD/bench/udp_flood" send --dst $VIP --port $PORT --flows "$FLOWS" \
    --seconds "$((SECONDS_PER_RUN + 1))" > "$STATE/send.json"
  wait "${pids[@]}"
  python3 - "$STATE" "${BACKENDS[@]}" <<'PY'
import json, sys
state, backends = sys.argv[1], sys.argv[2:]
recv = {b: json.load(open(f"{state}/recv-{b}.json")) for b in backends}
open(f"{state}/shares", "w").write(" ".join(f"{b}:{recv[b]['packets']}" for b in backends))
open(f"{state}/received", "w").write(str(sum(r["packets"] for r in recv.values())))
print(round(sum(r["pps"] for r in recv.values())))
PY
}

# ADAM: adamd in the balancer namespace; the service is stored once and
# applied at every start of the plugin.
ip netns exec "$(ns balancer)" "$BUILD/adamd" --state-dir "$STATE/adam" --pin-dir "$PIN_DIR" \
  --listen 127.0.0.1:$API_PORT --log-level warn > "$STATE/adamd.log" 2>&1 &
ADAMD_PID=$!
api() { ip netns exec "$(ns balancer)" curl -sf -H "Authorization: Bearer $(cat "$STATE/adam/admin.token")" \
  -H 'Content-Type: application/json' -X "$1" "http://127.0.0.1:$API_PORT$2" --data-binary "@$3"; }
api_get() { ip netns exec "$(ns balancer)" curl -sf -H "Authorization: Bearer $(cat "$STATE/adam/admin.token")" \
  "http://127.0.0.1:$API_PORT$1"; }
for _ in $(seq 100); do
  [[ -s "$STATE/adam/admin.token" ]] && ip netns exec "$(ns balancer)" curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo '{}' > "$STATE/empty.json"
echo '{"interfaces":["veth0"]}' > "$STATE/start.json"
cat > "$STATE/service.json" <<EOF
{"name": "bench", "vip": "$VIP", "port": $PORT, "proto": "udp", "mode": "l2dsr",
 "backends": [{"address": "${ADDR[b1]}"}, {"address": "${ADDR[b2]}"}, {"address": "${ADDR[b3]}"}]}
EOF
SERVICE_ID=$(api POST /api/v1/lb/services "$STATE/service.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# nftables: kube-proxy's DNAT to one of the endpoints in turn (per new
# connection: conntrack keeps a flow on its endpoint).
cat > "$STATE/nft.conf" <<EOF
table ip lb_bench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $VIP udp dport $PORT dnat to numgen inc mod 3 map { 0 : ${ADDR[b1]}, 1 : ${ADDR[b2]}, 2 : ${ADDR[b3]} }
  }
}
EOF

# The balancer's packets now, as its lb service counts them.
service_packets() {
  api_get "/api/v1/lb/services/$SERVICE_ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["packets"])'
}

# One column: set up, measure, check, tear down. Prints the pps.
column() {
  local pps
  case "$1" in
    adam)
      api POST /api/v1/plugins/lb/start "$STATE/start.json" >/dev/null
      ip -j -n "$(ns balancer)" link show veth0 | python3 -c '
import json, sys
xdp = json.load(sys.stdin)[0].get("xdp")
print({1: "native", 2: "generic"}.get(xdp["mode"], str(xdp["mode"])) if xdp else "none")' >> "$STATE/adam_modes"
      local before
      before=$(service_packets)
      pps=$(measure)
      # The balancer saw at least what the backends received.
      local balanced
      balanced=$(($(service_packets) - before))
      if ((balanced < $(cat "$STATE/received"))); then
        echo "lb_vs_nft: adam: the service balanced $balanced packets, the backends received $(cat "$STATE/received")" >&2
        exit 1
      fi
      api POST /api/v1/plugins/lb/stop "$STATE/empty.json" >/dev/null ;;
    nft)
      ip netns exec "$(ns balancer)" sysctl -qw net.ipv4.ip_forward=1
      ip netns exec "$(ns balancer)" nft -f "$STATE/nft.conf"
      pps=$(measure)
      ip netns exec "$(ns balancer)" nft delete table ip lb_bench
      ip netns exec "$(ns balancer)" sysctl -qw net.ipv4.ip_forward=0
      # The flows' conntrack entries go, so the next nft column starts fresh.
      ip netns exec "$(ns balancer)" sh -c 'echo f > /proc/net/nf_conntrack' 2>/dev/null || true ;;
  esac
  # Every backend got its share of the flows.
  if grep -qE ':0( |$)' "$STATE/shares"; then
    echo "lb_vs_nft: $1: a backend received nothing: $(cat "$STATE/shares")" >&2
    exit 1
  fi
  echo "$1 $(cat "$STATE/shares")" >> "$STATE/shares_all"
  echo "$pps"
}

COLUMNS=(adam nft)
: > "$STATE/rounds"
: > "$STATE/sent_rounds"
: > "$STATE/adam_modes"
for ((r = 0; r < ROUNDS; r++)); do
  line=""
  sent=""
  for ((k = 0; k < ${#COLUMNS[@]}; k++)); do
    c=${COLUMNS[$(((r + k) % ${#COLUMNS[@]}))]}
    line+=" $c=$(column "$c")"
    sent+=" $c=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["pps"]))' "$STATE/send.json")"
  done
  echo "round $((r + 1)) delivered pps:$line" >&2
  echo "round $((r + 1)) sent pps:     $sent" >&2
  echo "$line" >> "$STATE/rounds"
  echo "$sent" >> "$STATE/sent_rounds"
done
echo "packets per backend:" >&2
cat "$STATE/shares_all" >&2

python3 - "$STATE/rounds" "$STATE/sent_rounds" "$STATE/adam_modes" "$FLOWS" <<'PY'
import json, statistics, sys
parse = lambda path: [dict((kv.split("=")[0], int(kv.split("=")[1])) for kv in line.split()) for line in open(path)]
rounds, sent = parse(sys.argv[1]), parse(sys.argv[2])
modes = sorted(set(open(sys.argv[3]).read().split()))
med = lambda rs, c: round(statistics.median([r[c] for r in rs]))
ratio = round(statistics.median([r["adam"] / r["nft"] for r in rounds if r["nft"]]), 2) if any(r["nft"] for r in rounds) else None
print(json.dumps({"rounds": len(rounds), "flows": int(sys.argv[4]),
                  "adam_pps": med(rounds, "adam"), "nft_pps": med(rounds, "nft"), "ratio": ratio,
                  "adam_sent_pps": med(sent, "adam"), "nft_sent_pps": med(sent, "nft"),
                  "adam_xdp_mode": "/".join(modes)}))
PY
