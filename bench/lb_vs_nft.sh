#!/usr/bin/env bash
# The load balancer against kube-proxy's way, in namespaces built so that the
# balancer's work is what limits the rate:
#   client  veth0 198.51.100.1/28 ─── veth0 198.51.100.2/28   balancer
#   balancer veth<i> 198.51.100.<16i+1>/28 ─── veth0 198.51.100.<16i+2>/28  backend b<i>
# (one veth pair per backend, i = 1..3; the backends hold the VIP
# 203.0.113.10 on lo). The client sends whole UDP frames (checksums
# complete) to the VIP, from `--flows` source ports, to the balancer's MAC:
# with `--sender xdp` (the default) from the kernel's XDP traffic generator
# (`udp_flood send-xdp`: BPF_PROG_TEST_RUN with live frames, no skb and no
# syscall per frame; the balancer's veth0 has GRO on, or an XDP program,
# for the NAPI a veth needs to receive such frames), with `--sender raw`
# through AF_PACKET past the qdisc (`udp_flood send-raw`: an skb and a
# share of a sendmmsg per frame). Each backend counts and drops the
# flood's packets where they arrive, at its veth0's XDP hook (`udp_flood
# count-xdp`; `--count-mode native`, the default, or generic), so no
# backend's stack runs either: what is left per packet is the sender, the
# veth hops and the balancer, and the columns differ only in the balancer:
#   adam:         adamd's lb plugin on the balancer's veth0 in native XDP
#                 (l2dsr: the MACs rewritten, bpf_redirect to the backend's
#                 veth<i>);
#   adam_generic: the same in generic XDP (the skb receive path);
#   nft:          nftables DNAT to the three backends with `numgen inc mod 3`
#                 in the balancer's prerouting (kube-proxy's nftables mode),
#                 forwarded by the balancer's kernel (ip_forward 1).
# The balancer has ip_forward 0 and no rules while ADAM runs, and no lb
# plugin while nft runs: each column's packets reach the backends only
# through what it measures. The delivered rate is the sum of the backends'
# rates: packets that arrived at a backend, counted the same way for every
# column. Measured in `--rounds` rounds, each round every column once (the
# order rotating); the
# figures are the medians over the rounds, each ratio the median of the
# rounds' ratios, so slow drifts of a shared machine cancel out. Every
# round is printed to stderr. The last line is JSON: adam_pps (native),
# adam_generic_pps, nft_pps, ratio (adam/nft), generic_ratio, what the
# client sent (adam_sent_pps, adam_generic_sent_pps, nft_sent_pps), the
# delivered rates per CPU second of the path (*_pps_per_cpu, per_cpu_ratio,
# per_cpu_generic_ratio: the path runs in the sender's context and, for
# what the kernel defers, in ksoftirqd's, so on a shared machine this is its
# cost per packet whatever CPU share it got) and the XDP mode of each ADAM
# column.
# On one machine the whole way of a packet still runs in the sending CPU's
# softirqs (docs/lb.md, "Benchmark").
# Usage: bench/lb_vs_nft.sh [--seconds 5] [--rounds 3] [--flows 256] [--sender xdp|raw]
#                           [--count-mode native|generic] [--build build]
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
SECONDS_PER_RUN=5
ROUNDS=3
FLOWS=256
SENDER=xdp
COUNT_MODE=native
BUILD=build
while (($#)); do
  case "$1" in
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --sender) SENDER=$2; shift 2 ;;
    --count-mode) COUNT_MODE=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $SENDER == xdp || $SENDER == raw ]] || { echo "lb_vs_nft: --sender is xdp or raw" >&2; exit 2; }
[[ $COUNT_MODE == native || $COUNT_MODE == generic ]] || { echo "lb_vs_nft: --count-mode is native or generic" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "lb_vs_nft: needs root" >&2; exit 1; }
command -v nft >/dev/null || { echo "lb_vs_nft: nft is missing: apt-get install nftables" >&2; exit 1; }
command -v ethtool >/dev/null || { echo "lb_vs_nft: ethtool is missing: apt-get install ethtool" >&2; exit 1; }
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
CLIENT=198.51.100.1
declare -A ADDR=([b1]=198.51.100.18 [b2]=198.51.100.34 [b3]=198.51.100.50)
ns() { echo "$PREFIX-$1"; }
ADAMD_PID=

cleanup() {
  [[ -n "$ADAMD_PID" ]] && kill "$ADAMD_PID" 2>/dev/null && wait "$ADAMD_PID" 2>/dev/null
  for h in client balancer "${BACKENDS[@]}"; do
    ip netns pids "$(ns "$h")" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns delete "$(ns "$h")" 2>/dev/null || true
  done
  rm -rf "$PIN_DIR" "$STATE"
}
trap cleanup EXIT

# The lab.
for h in client balancer "${BACKENDS[@]}"; do
  ip netns add "$(ns "$h")"
  ip -n "$(ns "$h")" link set lo up
done
ip -n "$(ns client)" link add veth0 type veth peer name veth0 netns "$(ns balancer)"
ip -n "$(ns client)" addr add $CLIENT/28 dev veth0
ip -n "$(ns balancer)" addr add 198.51.100.2/28 dev veth0
ip -n "$(ns client)" link set veth0 up
ip -n "$(ns balancer)" link set veth0 up
# GRO on: the NAPI a veth needs to receive XDP frames (send-xdp's into the
# balancer, the balancer's redirected ones into a backend), whether or not
# an XDP program is attached at the time.
ip netns exec "$(ns balancer)" ethtool -K veth0 gro on >/dev/null
for i in 1 2 3; do
  b=b$i
  ip -n "$(ns balancer)" link add "veth$i" type veth peer name veth0 netns "$(ns "$b")"
  ip -n "$(ns balancer)" addr add "198.51.100.$((16 * i + 1))/28" dev "veth$i"
  ip -n "$(ns "$b")" addr add "${ADDR[$b]}/28" dev veth0
  ip -n "$(ns "$b")" addr add "$VIP/32" dev lo
  ip -n "$(ns balancer)" link set "veth$i" up
  ip -n "$(ns "$b")" link set veth0 up
  ip netns exec "$(ns "$b")" ethtool -K veth0 gro on >/dev/null
  ip netns exec "$(ns "$b")" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  # The balancer's neighbour entries (the lb plugin resolves them, nft's
  # forwarding would on its first packet).
  ip netns exec "$(ns balancer)" ping -q -c 1 -W 2 "${ADDR[$b]}" >/dev/null
done
ip netns exec "$(ns client)" ping -q -c 1 -W 2 198.51.100.2 >/dev/null
BALANCER_MAC=$(ip -j -n "$(ns balancer)" link show veth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')

# The CPU time of the ksoftirqd threads in clock ticks: the softirqs the
# kernel deferred there ran outside the sender's context.
softirqd_ticks() {
  local pid total=0
  for pid in $(pgrep -x 'ksoftirqd/[0-9]+'); do
    read -r -a stat < "/proc/$pid/stat"
    total=$((total + stat[13] + stat[14]))
  done
  echo "$total"
}

# Delivered pps summed over the backends for one flood, each backend
# counting at its veth0 (`udp_flood count-xdp`) for --seconds from its first
# packet while the client sends a second longer; the backends' shares go to
# $STATE/shares, their sum to $STATE/received.
measure() {
  local b pids=()
  for b in "${BACKENDS[@]}"; do
    ip netns exec "$(ns "$b")" "$BUILD/bench/udp_flood" count-xdp --dev veth0 --port $PORT --xdp-mode "$COUNT_MODE" \
      --seconds "$SECONDS_PER_RUN" > "$STATE/count-$b.json" &
    pids+=($!)
  done
  sleep 0.5
  local softirqd_before
  softirqd_before=$(softirqd_ticks)
  ip netns exec "$(ns client)" "$BUILD/bench/udp_flood" "send-$SENDER" --dev veth0 --dst-mac "$BALANCER_MAC" \
    --src $CLIENT --dst $VIP --port $PORT --flows "$FLOWS" --seconds "$((SECONDS_PER_RUN + 1))" > "$STATE/send.json"
  echo "$(($(softirqd_ticks) - softirqd_before))" > "$STATE/softirqd_ticks"
  wait "${pids[@]}"
  python3 - "$STATE" "${BACKENDS[@]}" <<'PY'
import json, sys
state, backends = sys.argv[1], sys.argv[2:]
count = {b: json.load(open(f"{state}/count-{b}.json")) for b in backends}
open(f"{state}/shares", "w").write(" ".join(f"{b}:{count[b]['packets']}" for b in backends))
open(f"{state}/received", "w").write(str(sum(c["packets"] for c in count.values())))
print(round(sum(c["pps"] for c in count.values())))
PY
}

# ADAM: adamd in the balancer namespace; the service is stored once and
# applied at every start of the plugin. Entered with nsenter, not `ip netns
# exec`, whose mount namespace has a /sys without the host's bpffs to pin in.
nsenter --net="/run/netns/$(ns balancer)" "$BUILD/adamd" --state-dir "$STATE/adam" --pin-dir "$PIN_DIR" \
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
for mode in native generic; do echo "{\"interfaces\":[\"veth0\"],\"xdp_mode\":\"$mode\"}" > "$STATE/start-$mode.json"; done
cat > "$STATE/service.json" <<JSON
{"name": "bench", "vip": "$VIP", "port": $PORT, "proto": "udp", "mode": "l2dsr",
 "backends": [{"address": "${ADDR[b1]}"}, {"address": "${ADDR[b2]}"}, {"address": "${ADDR[b3]}"}]}
JSON
SERVICE_ID=$(api POST /api/v1/lb/services "$STATE/service.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# nftables: kube-proxy's DNAT to one of the endpoints in turn (per new
# connection: conntrack keeps a flow on its endpoint).
cat > "$STATE/nft.conf" <<NFT
table ip lb_bench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $VIP udp dport $PORT dnat to numgen inc mod 3 map { 0 : ${ADDR[b1]}, 1 : ${ADDR[b2]}, 2 : ${ADDR[b3]} }
  }
}
NFT

# The balancer's packets now, as its lb service counts them.
service_packets() {
  api_get "/api/v1/lb/services/$SERVICE_ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["packets"])'
}

# The XDP mode of the balancer's veth0 as `ip link` shows it.
xdp_mode() {
  ip -j -n "$(ns balancer)" link show veth0 | python3 -c '
import json, sys
xdp = json.load(sys.stdin)[0].get("xdp")
print({1: "native", 2: "generic"}.get(xdp["mode"], str(xdp["mode"])) if xdp else "none")'
}

# One ADAM column in XDP mode $1: start, check the mode, measure, check, stop.
adam_column() {
  local pps before balanced mode
  api POST /api/v1/plugins/lb/start "$STATE/start-$1.json" >/dev/null
  mode=$(xdp_mode)
  if [[ $mode != "$1" ]]; then
    echo "lb_vs_nft: adam in $1 XDP: the balancer's veth0 has XDP $mode" >&2
    exit 1
  fi
  before=$(service_packets)
  pps=$(measure)
  # The balancer saw at least what the backends received.
  balanced=$(($(service_packets) - before))
  if ((balanced < $(cat "$STATE/received"))); then
    echo "lb_vs_nft: adam ($1): the service balanced $balanced packets, the backends received $(cat "$STATE/received")" >&2
    exit 1
  fi
  api POST /api/v1/plugins/lb/stop "$STATE/empty.json" >/dev/null
  echo "$pps"
}

# One column: set up, measure, check, tear down. Prints the pps.
column() {
  local pps
  case "$1" in
    adam) pps=$(adam_column native) ;;
    adam_generic) pps=$(adam_column generic) ;;
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

COLUMNS=(adam adam_generic nft)
: > "$STATE/rounds"
: > "$STATE/sent_rounds"
: > "$STATE/per_cpu_rounds"
for ((r = 0; r < ROUNDS; r++)); do
  line=""
  sent=""
  per_cpu=""
  for ((k = 0; k < ${#COLUMNS[@]}; k++)); do
    c=${COLUMNS[$(((r + k) % ${#COLUMNS[@]}))]}
    pps=$(column "$c")
    line+=" $c=$pps"
    sent+=" $c=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["pps"]))' "$STATE/send.json")"
    # The delivered rate had the path had a whole CPU: the path runs in the
    # sender's context and, for what the kernel deferred, in ksoftirqd's.
    per_cpu+=" $c=$(python3 -c 'import json,sys; s = json.load(open(sys.argv[1]))
cpu = s["cpu_seconds"] + int(open(sys.argv[3]).read()) / int(sys.argv[4])
print(round(int(sys.argv[2]) * s["seconds"] / cpu))' "$STATE/send.json" "$pps" "$STATE/softirqd_ticks" "$(getconf CLK_TCK)")"
  done
  echo "round $((r + 1)) delivered pps:        $line" >&2
  echo "round $((r + 1)) sent pps:             $sent" >&2
  echo "round $((r + 1)) delivered pps per CPU:$per_cpu" >&2
  echo "$line" >> "$STATE/rounds"
  echo "$sent" >> "$STATE/sent_rounds"
  echo "$per_cpu" >> "$STATE/per_cpu_rounds"
done
echo "packets per backend:" >&2
cat "$STATE/shares_all" >&2

python3 - "$STATE/rounds" "$STATE/sent_rounds" "$STATE/per_cpu_rounds" "$FLOWS" "$SENDER" <<'PY'
import json, statistics, sys
parse = lambda path: [dict((kv.split("=")[0], int(kv.split("=")[1])) for kv in line.split()) for line in open(path)]
rounds, sent, per_cpu = parse(sys.argv[1]), parse(sys.argv[2]), parse(sys.argv[3])
med = lambda rs, c: round(statistics.median([r[c] for r in rs]))
ratio = lambda rs, c: (round(statistics.median([r[c] / r["nft"] for r in rs if r["nft"]]), 2)
                       if any(r["nft"] for r in rs) else None)
print(json.dumps({"rounds": len(rounds), "flows": int(sys.argv[4]), "sender": sys.argv[5],
                  "adam_pps": med(rounds, "adam"), "adam_generic_pps": med(rounds, "adam_generic"),
                  "nft_pps": med(rounds, "nft"), "ratio": ratio(rounds, "adam"),
                  "generic_ratio": ratio(rounds, "adam_generic"),
                  "adam_sent_pps": med(sent, "adam"), "adam_generic_sent_pps": med(sent, "adam_generic"),
                  "nft_sent_pps": med(sent, "nft"),
                  "adam_pps_per_cpu": med(per_cpu, "adam"), "adam_generic_pps_per_cpu": med(per_cpu, "adam_generic"),
                  "nft_pps_per_cpu": med(per_cpu, "nft"), "per_cpu_ratio": ratio(per_cpu, "adam"),
                  "per_cpu_generic_ratio": ratio(per_cpu, "adam_generic"),
                  "adam_xdp_mode": "native", "adam_generic_xdp_mode": "generic"}))
PY
