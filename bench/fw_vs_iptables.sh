#!/usr/bin/env bash
# End-to-end firewall benchmark through a veth pair: a UDP flood from
# namespace a to a socket in namespace b, delivered packets per second with
#   1. no filtering,
#   2. an empty XDP program (XDP_PASS, bench/empty_pass.bpf.c) on veth-b in
#      native (driver) mode, then in generic (skb) mode, and an empty tc
#      program (TC_ACT_UNSPEC) at its tc ingress through a tcx link: what
#      hooking any program in there costs,
#   3. ADAM's firewall (adamd in b) on veth-b holding N rules that do not
#      match: with its default config (on a veth: tc ingress when the kernel
#      has tcx), then at XDP with "xdp_mode" native and generic,
#   4. iptables (nft backend) holding the same N rules in b's INPUT chain,
# all measured in this one run (the tc columns only where the kernel has tcx
# links). Columns 1-3 are measured in `--rounds` rounds,
# each round every column once, one after the other; the figures are the
# medians over the rounds, each ratio the median of the rounds' ratios (a
# column against the same round's unfiltered rate), so slow drifts of a shared
# machine cancel out. Every round is printed to stderr. Prints one JSON line.
# Usage: bench/fw_vs_iptables.sh [--rules 1000] [--seconds 5] [--rounds 3] [--build build]
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
RULES=1000
SECONDS_PER_RUN=5
ROUNDS=3
BUILD=build
while (($#)); do
  case "$1" in
    --rules) RULES=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "fw_vs_iptables: needs root" >&2; exit 1; }
command -v iptables-nft >/dev/null || { echo "fw_vs_iptables: iptables (nft backend) is missing: apt-get install iptables" >&2; exit 1; }
BUILD=$(realpath "$BUILD")
PASS_OBJ=$BUILD/bpf/empty_pass.bpf.o
[[ -f $PASS_OBJ && -x $BUILD/bench/tcx_attach ]] || { echo "fw_vs_iptables: $PASS_OBJ or $BUILD/bench/tcx_attach is missing: build the tree first" >&2; exit 1; }
. "$(dirname "$0")/support/veth_lab.sh"
NS_A=adamt-bench-$$-a
NS_B=adamt-bench-$$-b
PIN_DIR=/sys/fs/bpf/adamt-bench-$$
STATE=$(mktemp -d /tmp/adamt-bench-XXXXXX)
PORT=9999
ADAMD_PID=

cleanup() {
  [[ -n "$ADAMD_PID" ]] && kill "$ADAMD_PID" 2>/dev/null && wait "$ADAMD_PID" 2>/dev/null
  veth_lab_down
  rm -rf "$PIN_DIR" "$STATE"
}
trap cleanup EXIT

veth_lab_up

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

# The XDP mode veth-b's program is attached in, as `ip` reports it: native,
# generic or none.
xdp_mode_now() {
  ip -j -n "$NS_B" link show veth-b | python3 -c '
import json, sys
xdp = json.load(sys.stdin)[0].get("xdp")
print({1: "native", 2: "generic"}.get(xdp["mode"], str(xdp["mode"])) if xdp else "none")'
}

# Where ADAM's firewall hooks into veth-b, as its stats say: tc, or the XDP mode.
adam_hook_now() {
  api_get /api/v1/firewall/stats | python3 -c '
import json, sys
hook = json.load(sys.stdin)["hooks"][0]
print("tc" if hook["hook"] == "tc" else hook["xdp_mode"])'
}

# ADAM: adamd in namespace b; its firewall holds N udp rules on other ports.
ip netns exec "$NS_B" "$BUILD/adamd" --state-dir "$STATE/adam" --pin-dir "$PIN_DIR" \
  --listen 127.0.0.1:19977 --log-level warn > "$STATE/adamd.log" 2>&1 &
ADAMD_PID=$!
api() { ip netns exec "$NS_B" curl -sf -H "Authorization: Bearer $(cat "$STATE/adam/admin.token")" \
  -H 'Content-Type: application/json' -X "$1" "http://127.0.0.1:19977$2" --data-binary "@$3"; }
api_get() { ip netns exec "$NS_B" curl -sf -H "Authorization: Bearer $(cat "$STATE/adam/admin.token")" \
  "http://127.0.0.1:19977$1"; }
for _ in $(seq 50); do [[ -s "$STATE/adam/admin.token" ]] && ip netns exec "$NS_B" curl -sf http://127.0.0.1:19977/healthz >/dev/null 2>&1 && break; sleep 0.1; done
python3 - "$RULES" > "$STATE/ruleset.json" <<'PY'
import json, sys
n = int(sys.argv[1])
rules = [{"name": f"bench {i}", "priority": i, "action": "drop",
          "match": {"proto": ["udp"], "dst_port": [10000 + i]}} for i in range(n)]
print(json.dumps({"default": "pass", "rules": rules}))
PY
echo '{}' > "$STATE/empty.json"
echo '{"interfaces":["veth-b"]}' > "$STATE/start-default.json"
echo '{"interfaces":["veth-b"],"xdp_mode":"native"}' > "$STATE/start-native.json"
echo '{"interfaces":["veth-b"],"xdp_mode":"generic"}' > "$STATE/start-generic.json"
api PUT /api/v1/firewall/ruleset "$STATE/ruleset.json" >/dev/null  # stored; applied at every start

# One column: set up, measure, check, tear down. Prints the pps.
column() {
  local pps mode passed
  case "$1" in
    unfiltered)
      pps=$(measure) ;;
    xdp_pass_native|xdp_pass_generic)
      local flag=xdpdrv; [[ $1 == xdp_pass_generic ]] && flag=xdpgeneric
      ip -n "$NS_B" link set dev veth-b $flag obj "$PASS_OBJ" sec xdp
      mode=$(xdp_mode_now)
      pps=$(measure)
      ip -n "$NS_B" link set dev veth-b $flag off ;;
    tc_pass)
      mkdir -p "$PIN_DIR"  # on the host's bpffs (adamd pins in its own, under ip netns exec)
      "$BUILD/bench/tcx_attach" "$NS_B" veth-b "$PIN_DIR/tc_pass"
      mode=tc
      pps=$(measure)
      rm "$PIN_DIR/tc_pass" ;;  # the pin held the link: it detaches
    adam|adam_native|adam_generic)
      local cfg=default; [[ $1 == adam_native ]] && cfg=native; [[ $1 == adam_generic ]] && cfg=generic
      api POST /api/v1/plugins/firewall/start "$STATE/start-$cfg.json" >/dev/null
      mode=$(adam_hook_now)
      pps=$(measure)
      # The firewall saw the flood: its pass counter holds at least what arrived.
      passed=$(api_get /api/v1/firewall/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"]["pass"])')
      local received
      received=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packets"])' "$STATE/recv.json")
      if ((passed < received)); then
        echo "fw_vs_iptables: $1: the firewall passed $passed packets, the socket received $received" >&2
        exit 1
      fi
      api POST /api/v1/plugins/firewall/stop "$STATE/empty.json" >/dev/null ;;
  esac
  [[ -n ${mode:-} ]] && echo "$1 $mode" >> "$STATE/modes"
  echo "$pps"
}

COLUMNS=(unfiltered xdp_pass_native xdp_pass_generic adam adam_native adam_generic)
# Where the kernel has tcx links, adamd's default puts the firewall at tc on a veth.
TCX=$(api_get /api/v1/node | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["features"]["tcx"]["available"]))')
((TCX)) && COLUMNS+=(tc_pass)
N=${#COLUMNS[@]}
: > "$STATE/rounds"
for ((r = 0; r < ROUNDS; r++)); do
  line=""
  sent=""
  # Each round starts one column later, so no column always runs first.
  for ((k = 0; k < N; k++)); do
    c=${COLUMNS[$(((r + k) % N))]}
    line+=" $c=$(column "$c")"
    sent+=" $c=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["pps"]))' "$STATE/send.json")"
  done
  echo "round $((r + 1)) delivered pps:$line" >&2
  echo "round $((r + 1)) sent pps:     $sent" >&2
  echo "$line" >> "$STATE/rounds"
done
kill "$ADAMD_PID"; wait "$ADAMD_PID" 2>/dev/null || true; ADAMD_PID=

# iptables (nft backend): the same rules in INPUT.
{
  echo '*filter'
  for ((i = 0; i < RULES; i++)); do echo "-A INPUT -p udp --dport $((10000 + i)) -j DROP"; done
  echo 'COMMIT'
} | ip netns exec "$NS_B" iptables-nft-restore
iptables=$(measure)
echo "iptables: $iptables" >&2

python3 - "$RULES" "$iptables" "$STATE/rounds" "$STATE/modes" <<'PY'
import json, statistics, sys
rules, ipt = int(sys.argv[1]), int(sys.argv[2])
rounds = [dict((kv.split("=")[0], int(kv.split("=")[1])) for kv in line.split()) for line in open(sys.argv[3])]
modes = {}
for line in open(sys.argv[4]):
    col, mode = line.split()
    modes.setdefault(col, set()).add(mode)
med = lambda xs: round(statistics.median(xs))
pps = {c: med([r[c] for r in rounds]) for c in rounds[0]}
def ratio(c):  # median over the rounds of column / the same round's unfiltered
    return round(statistics.median([r[c] / r["unfiltered"] for r in rounds if r["unfiltered"]]), 3)
out = {"rules": rules, "rounds": len(rounds),
       "unfiltered_pps": pps["unfiltered"], "adam_pps": pps["adam"], "iptables_pps": ipt,
       "adam_vs_unfiltered": ratio("adam"),
       "adam_vs_iptables": round(pps["adam"] / ipt, 2) if ipt else None,
       "adam_hook": "/".join(sorted(modes["adam"])),
       "xdp_pass_native_pps": pps["xdp_pass_native"], "xdp_pass_generic_pps": pps["xdp_pass_generic"],
       "adam_native_pps": pps["adam_native"], "adam_generic_pps": pps["adam_generic"],
       "xdp_pass_native_vs_unfiltered": ratio("xdp_pass_native"),
       "xdp_pass_generic_vs_unfiltered": ratio("xdp_pass_generic"),
       "adam_native_vs_unfiltered": ratio("adam_native"),
       "adam_generic_vs_unfiltered": ratio("adam_generic")}
if "tc_pass" in rounds[0]:
    out["tc_pass_pps"] = pps["tc_pass"]
    out["tc_pass_vs_unfiltered"] = ratio("tc_pass")
for c in ("xdp_pass_native", "xdp_pass_generic", "adam_native", "adam_generic"):
    want = c.rsplit("_", 1)[1]
    if modes.get(c) != {want}:
        sys.exit(f"fw_vs_iptables: {c} ran attached in {modes.get(c)}, not {want}")
print(json.dumps(out))
PY
