# Sourced by the benchmark scripts that send through a veth pair between two
# network namespaces of their own: NS_A (198.51.100.1, veth-a) and NS_B
# (198.51.100.2, veth-b). The caller names NS_A and NS_B with the tests'
# "adamt" prefix and its pid, so tests/cleanup-leftovers.sh leaves them alone
# while it runs and removes them if it crashed.

# Makes both namespaces and the pair, up, and checks that A reaches B.
veth_lab_up() {
  ip netns add "$NS_A"
  ip netns add "$NS_B"
  ip -n "$NS_A" link add veth-a type veth peer name veth-b netns "$NS_B"
  ip -n "$NS_A" addr add 198.51.100.1/24 dev veth-a
  ip -n "$NS_B" addr add 198.51.100.2/24 dev veth-b
  for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_A" link set veth-a up
  ip -n "$NS_B" link set veth-b up
  ip netns exec "$NS_A" ping -q -c 1 -W 2 198.51.100.2 >/dev/null
}

# Removes both (the pair goes with them); safe when they were never made.
veth_lab_down() {
  ip netns delete "$NS_A" 2>/dev/null || true
  ip netns delete "$NS_B" 2>/dev/null || true
}
