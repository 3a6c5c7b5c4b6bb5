#!/usr/bin/env bash
# The package's life on a machine booted with systemd (VmPackage's guest
# half, run by tests/vm/package-suite.sh through `run-in-vm.sh --systemd`):
# dpkg -i starts adamd.service; `adamctl node` answers with the unit's token;
# adamd runs with exactly the unit's capabilities, and under its hardening
# every plugin starts and does its work (a firewall drop, a monitored exec, an
# LSM exec deny, the balancer attached); a restart keeps the rule enforced;
# dpkg -r stops it, takes its programs out of the kernel and leaves only
# /var/lib/adam and the config; dpkg --purge leaves nothing.
#
#   package-guest.sh DEB
#
# Prints "PKG ok NAME" or "PKG FAIL NAME: why" per check and exits 1 when one
# failed. Only ever run inside the VM (ADAM_VM_INIT=systemd): it installs a
# package and makes interfaces.
set -uo pipefail
deb=$1
[[ ${ADAM_VM_INIT:-} == systemd ]] || {
  echo "package-guest.sh: only inside run-in-vm.sh --systemd" >&2
  exit 2
}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/plugin-checks.sh"
trap lab_down EXIT
# What the package may leave behind is compared on these trees; dpkg's own
# database keeps a removed package's conffiles by design.
snapshot() {
  find /etc /usr/sbin /usr/bin /usr/share/doc /lib/systemd/system /var/lib \
    -path /var/lib/dpkg -prune -o -path /var/lib/apt -prune -o -print 2>/dev/null | sort
}
lab_up
# The guest's root is this machine's, a Docker image whose policy-rc.d refuses
# every service start (exit 101); a machine the package is for has none.
rm -f /usr/sbin/policy-rc.d

before=$(snapshot)
started=$SECONDS
check "dpkg -i" dpkg -i "$deb"
check "unit enabled" test "$(systemctl is-enabled adamd.service)" = enabled
check "adamctl node" until_ok 300 adamctl node
echo "PKG note: adamd answered $((SECONDS - started)) s after dpkg -i began"
if ((failures)); then
  # Why, now: the checks below would only wait on a daemon that is not there.
  echo "--- systemctl status adamd; journalctl -u adamd"
  systemctl status adamd.service --no-pager 2>&1 | head -n 15
  journalctl -u adamd.service --no-pager | tail -n 40
  exit 1
fi
adamctl node | head -n 20

# Exactly the unit's capabilities, effective and bounding.
pid=$(systemctl show -p MainPID --value adamd.service)
want=$(sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/adamd.service | tr 'A-Z ' 'a-z\n' | sort | paste -sd,)
for set in CapEff CapBnd; do
  have=$(capsh --decode="$(awk -v s="$set:" '$1 == s { print $2 }' /proc/"$pid"/status)" |
    sed 's/.*=//' | tr , '\n' | sort | paste -sd,)
  if [[ $have == "$want" ]]; then pass "$set"; else fail "$set" "adamd has $have, the unit says $want"; fi
done
check "NoNewPrivs" grep -q '^NoNewPrivs:[[:space:]]*1' /proc/"$pid"/status
# systemd's own reading of the unit's hardening, for docs/operations.md.
echo "PKG note: systemd-analyze security: $(systemd-analyze security adamd.service 2>&1 | tail -n 1)"

# Every plugin under the unit's hardening.
check_plugins

# A restart: the rule stays enforced, the plugins come back.
check "systemctl restart" systemctl restart adamd.service
check "adamctl node after restart" until_ok 300 adamctl node
check "firewall drops after restart" not pinged
check "firewall running after restart" until_ok 30 running firewall

# dpkg -r: stopped, out of the kernel, only the state and the config left.
check "dpkg -r" dpkg -r adam
check "adamd stopped" not pgrep -x adamd
check "pins removed" test ! -e /sys/fs/bpf/adam
check "firewall gone from the kernel" until_ok 10 pinged
check "state kept" test -s /var/lib/adam/adam.db
new_files() { comm -13 <(echo "$before") <(snapshot); }
left=$(new_files | grep -Ev '^(/etc/adam|/etc/adam/adamd\.toml|/var/lib/adam(/.*)?)$' | paste -sd' ')
gone=$(comm -23 <(echo "$before") <(snapshot) | paste -sd' ')
if [[ -z $left && -z $gone ]]; then
  pass "dpkg -r leaves only the state and the config"
else
  fail "dpkg -r leaves only the state and the config" "left: ${left:-nothing}; gone: ${gone:-nothing}"
fi
check "dpkg --purge" dpkg --purge adam
left=$(new_files | paste -sd' ')
if [[ -z $left ]]; then pass "dpkg --purge leaves nothing"; else fail "dpkg --purge leaves nothing" "left: $left"; fi

if ((failures)); then
  echo "--- journalctl -u adamd"
  journalctl -u adamd.service --no-pager | tail -n 150
fi
((failures == 0))
