# Checks that every plugin of a running adamd starts and does its work, for
# the shell tests of the package (sourced by tests/vm/package-guest.sh and
# packaging/verify-capabilities.sh). adamctl reaches adamd as it would for a
# user: ADAM_URL and ADAM_TOKEN, or its defaults (127.0.0.1:9988, the token
# in /var/lib/adam).
#
# Each check prints "PKG ok NAME" or "PKG FAIL NAME: why" and counts its
# failure in $failures. `adamctl` is whichever the PATH finds.

failures=0
pass() { echo "PKG ok $1"; }
fail() {
  echo "PKG FAIL $1: $2"
  failures=$((failures + 1))
}
# check NAME COMMAND...: the command's success is the check's.
check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$* -> $(tail -n 3 <<<"$out" | tr '\n' ' ')"; fi
}
# until_ok SECONDS COMMAND...: the command, until it succeeds (TCG is slow).
until_ok() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}
not() { ! "$@"; }
running() { adamctl plugins | grep -Eq "^$1 +running"; }

# The lab: namespace pkgns whose pings (198.51.100.2) reach this machine's
# 198.51.100.1 on the veth pkg0. lab_down removes it; call it from a trap.
lab_up() {
  ip netns add pkgns &&
    ip link add pkg0 type veth peer name pkg1 netns pkgns &&
    ip addr add 198.51.100.1/24 dev pkg0 &&
    ip link set pkg0 up &&
    ip -n pkgns addr add 198.51.100.2/24 dev pkg1 &&
    ip -n pkgns link set pkg1 up &&
    ip -n pkgns link set lo up
  check "lab ping" until_ok 10 pinged
}
lab_down() {
  ip netns del pkgns 2>/dev/null
  ip link del pkg0 2>/dev/null
  rm -f /tmp/pkg-denied
  true
}
pinged() { ip netns exec pkgns ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1; }

# Every plugin: the firewall drops the lab's pings, the monitor records an
# exec, the LSM denies one, the balancer attaches; all four report running.
check_plugins() {
  check "firewall start" adamctl plugin start firewall --set interfaces=pkg0
  check "firewall drop rule" adamctl fw add --name "pkg: no ping" --action drop --src 198.51.100.2/32 --proto icmp
  check "firewall drops" until_ok 10 not pinged
  check "monitor start" adamctl plugin start monitor
  check "lsm start" adamctl plugin start lsm
  cp /bin/true /tmp/pkg-denied
  check "lsm policy" adamctl lsm add --name "pkg: no pkg-denied" --kind exec --action deny --path /tmp/pkg-denied
  check "lsm denies exec" until_ok 10 not /tmp/pkg-denied
  # Another user's process too (its /proc/PID is not root's to read without
  # CAP_SYS_PTRACE).
  check "lsm denies nobody's exec" not setpriv --reuid 65534 --regid 65534 --clear-groups /tmp/pkg-denied
  check "monitor saw an exec" until_ok 30 bash -c 'adamctl events --last 1h --kind process.exec | grep -q adamctl'
  check "lb start" adamctl plugin start lb --set interfaces=pkg0
  local plugin
  for plugin in firewall monitor lsm lb; do
    check "$plugin running" running "$plugin"
  done
}
