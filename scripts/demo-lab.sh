#!/usr/bin/env bash
# `make run`: adamd with its demo lab (--demo: netns adam-demo, veth
# adam-demo0 <-> eth0, pings both ways), then the lab put to work so the
# dashboard's charts move from the first minute: the firewall started on
# adam-demo0 (tc), a logging drop rule for UDP port 9, and 5 datagrams a
# second to that port from the namespace (pass: the pings; drop: the UDP;
# events: the drops' log). Ctrl-C stops adamd, which removes the lab.
#   scripts/demo-lab.sh <adamd> <adamd args...>   (the args hold --demo, --listen, --state-dir)
set -euo pipefail
adamd=$1
shift
listen=127.0.0.1:9988
state_dir=var
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  case ${args[i]} in
    --listen) listen=${args[i + 1]} ;;
    --state-dir) state_dir=${args[i + 1]} ;;
  esac
done
url=http://$listen

"$adamd" "$@" &
adamd_pid=$!
traffic_pid=
stop() {
  [[ -n $traffic_pid ]] && kill "$traffic_pid" 2>/dev/null
  kill -TERM "$adamd_pid" 2>/dev/null
  wait "$adamd_pid"
}
trap stop INT TERM

for _ in $(seq 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  kill -0 "$adamd_pid" 2>/dev/null || exit 1
  sleep 0.1
done
token=$(cat "$state_dir/admin.token")
api() {
  curl -fsS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$url$2"
}

# A firewall the operator configured (state restored from the state dir) is left as it is.
if [[ $(api GET /api/v1/plugins/firewall | jq -r .state) != running ]]; then
  api POST /api/v1/plugins/firewall/start '{"interfaces":["adam-demo0"],"hook":"tc"}' >/dev/null
fi
if ! api GET /api/v1/firewall/rules | jq -e '.rules[] | select(.name == "demo: drop udp/9")' >/dev/null; then
  api POST /api/v1/firewall/rules \
    '{"name":"demo: drop udp/9","action":"drop","log":true,"priority":100,"match":{"proto":["udp"],"dst_port":[9]}}' \
    >/dev/null
fi
ip netns exec adam-demo bash -c 'while :; do echo demo >/dev/udp/198.51.100.1/9; sleep 0.2; done' &
traffic_pid=$!
echo "demo lab at work: firewall on adam-demo0, UDP to port 9 dropped and logged."
echo "console: $url  (sign in with the token in $state_dir/admin.token)"
wait "$adamd_pid"
