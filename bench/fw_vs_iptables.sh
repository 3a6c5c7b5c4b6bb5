#!/usr/bin/env bash
# End-to-end firewall benchmark through a veth pair: a UDP flood from
# namespace a to a socket in namespace b, delivered packets per second with
#   1. no filtering,
#   2. ADAM's XDP firewall (adamd in b) holding N rules that do not match,
#   3. iptables (nft backend) holding the same N rules in b's INPUT chain,
# all measured in this one run. Prints one JSON line.
# Usage: bench/fw_vs_iptables.sh [--rules 1000] [--seconds 5] [--build build]
set -euo pipefail
RULES=1000
SECONDS_PER_RUN=5
BUILD=build
while (($#)); do
  case "$1" in
    --rules) RULES=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "fw_vs_iptables: needs root" >&2; exit 1; }
command -v iptables-nft >/dev/null || { echo "fw_vs_iptables: iptables (nft backend) is missing: apt-get install iptables" >&2; exit 1; }
BUILD=$(realpath "$BUILD")
NS_A=adamt-bench-$$-a
NS_B=adamt-bench-$$-b
PIN_DIR=/sys/fs/bpf/adamt-bench-$$
STATE=$(mktemp -d /tmp/adamt-bench-XXXXXX)
PORT=9999
ADAMD_PID=

cleanup() {
  [[ -n "$ADAMD_PID" ]] && kill "$ADAMD_PID" 2>/dev/null && wait "$ADAMD_PID" 2>/dev/null
  ip netns delete "$NS_A" 2>/dev/null || true
  ip netns delete "$NS_B" 2>/dev/null || true
  rm -rf "$PIN_DIR" "$STATE"
}
trap cleanup EXIT

ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link add veth-a type veth peer name veth-b netns "$NS_B"
ip -n "$NS_A" addr add 198.51.100.1/24 dev veth-a
ip -n "$NS_B" addr add 198.51.100.2/24 dev veth-b
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set veth-a up
ip -n "$NS_B" link set veth-b up
ip netns exec "$NS_A" ping -q -c 1 -W 2 198.51.100.2 >/dev/null

# Delivered pps at the receiver for one flood.
measure() {
  ip netns exec "$NS_B" "$BUILD/bench/udp_flood" recv --port $PORT --seconds "$SECONDS_PER_RUN" > "$STATE/recv.json" &
  local recv=$!
  sleep 0.3
  ip netns exec "$NS_A" "$BUILD/bench/udp_flood" send --dst 198.51.100.2 --port $PORT \
    --seconds "$((SECONDS_PER_RUN + 1))" > "$STATE/send.json"
  wait $recv
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["pps"]))' "$STATE/recv.json"
}

unfiltered=$(measure)

# ADAM: adamd in namespace b, firewall on veth-b, N udp rules on other ports.
ip netns exec "$NS_B" "$BUILD/adamd" --state-dir "$STATE/adam" --pin-dir "$PIN_DIR" \
  --listen 127.0.0.1:19977 --log-level warn > "$STATE/adamd.log" 2>&1 &
ADAMD_PID=$!
api() { ip netns exec "$NS_B" curl -sf -H "Authorization: Bearer $(cat "$STATE/adam/admin.token")" \
  -H 'Content-Type: application/json' -X "$1" "http://127.0.0.1:19977$2" --data-binary "@$3"; }
for _ in $(seq 50); do [[ -s "$STATE/adam/admin.token" ]] && ip netns exec "$NS_B" curl -sf http://127.0.0.1:19977/healthz >/dev/null 2>&1 && break; sleep 0.1; done
python3 - "$RULES" > "$STATE/ruleset.json" <<'PY'
import json, sys
n = int(sys.argv[1])
rules = [{"name": f"bench {i}", "priority": i, "action": "drop",
          "match": {"proto": ["udp"], "dst_port": [10000 + i]}} for i in range(n)]
print(json.dumps({"default": "pass", "rules": rules}))
PY
echo '{"interfaces":["veth-b"]}' > "$STATE/start.json"
echo '{}' > "$STATE/empty.json"
api POST /api/v1/plugins/firewall/start "$STATE/start.json" >/dev/null
api PUT /api/v1/firewall/ruleset "$STATE/ruleset.json" >/dev/null
adam=$(measure)
api POST /api/v1/plugins/firewall/stop "$STATE/empty.json" >/dev/null
kill "$ADAMD_PID"; wait "$ADAMD_PID" 2>/dev/null || true; ADAMD_PID=

# iptables (nft backend): the same rules in INPUT.
{
  echo '*filter'
  for ((i = 0; i < RULES; i++)); do echo "-A INPUT -p udp --dport $((10000 + i)) -j DROP"; done
  echo 'COMMIT'
} | ip netns exec "$NS_B" iptables-nft-restore
iptables=$(measure)

python3 - "$RULES" "$unfiltered" "$adam" "$iptables" <<'PY'
import json, sys
rules, unfiltered, adam, ipt = map(int, sys.argv[1:])
print(json.dumps({"rules": rules, "unfiltered_pps": unfiltered, "adam_pps": adam, "iptables_pps": ipt,
                  "adam_vs_unfiltered": round(adam / unfiltered, 3) if unfiltered else None,
                  "adam_vs_iptables": round(adam / ipt, 2) if ipt else None}))
PY
