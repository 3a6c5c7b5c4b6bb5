#!/usr/bin/env bash
# Installs what building, running and testing ADAM needs on Debian 12, and
# nothing when it is all there already (so `make` stays fast on a second run).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config make git
  clang llvm libbpf-dev bpftool linux-libc-dev
  libsqlite3-dev libsqlitecpp-dev libcpp-httplib-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libssl-dev libboost-dev
  libkainjow-mustache-dev libgtest-dev googletest
  iproute2 iputils-ping util-linux procps curl python3
  xdp-tools iptables nftables ethtool nodejs npm chromium
  auditd bpftrace fapolicyd
  qemu-system-x86 busybox-static cpio xz-utils
  wrk libclang-rt-14-dev
  # The Debian package (make package) and its VM test.
  dpkg-dev init-system-helpers libcap2-bin systemd
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# nodejs/npm may come from outside Debian (e.g. NodeSource) on a developer box:
# a working `npm` is what counts.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for pkg in "${missing[@]}"; do
    [[ "$pkg" == nodejs || "$pkg" == npm ]] || filtered+=("$pkg")
  done
  missing=("${filtered[@]}")
fi
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages and not root; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Package scripts start their services (auditd's postinst: `invoke-rc.d auditd
  # start || exit 1`): auditd and fapolicyd are only peers of the monitor and
  # lsm benchmarks, which start their own, so no service is started for this install
  # (policy-rc.d exit 101, as Debian's container images have it), and where
  # systemd runs it is not enabled at boot either (below).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [[ " ${missing[*]} " == *" auditd "* && -d /run/systemd/system ]]; then
    systemctl disable auditd >/dev/null 2>&1 || true
  fi
  # fapolicyd's postinst enables its unit whether systemd runs or not
  # (deb-systemd-helper); booted with Debian's rules ("deny_audit
  # perm=execute all : all" for anything untrusted) it would stop the
  # machine's programs, so it is disabled the same way.
  if [[ " ${missing[*]} " == *" fapolicyd "* ]]; then
    deb-systemd-helper disable fapolicyd.service >/dev/null 2>&1 || true
  fi
fi

# Web assets are pinned in package-lock.json and embedded into adamd at build.
# node_modules remembers the lock file it was installed from (a checksum: a
# fresh checkout's lock file is newer than an installed node_modules, yet the
# same).
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.adam-lock-sha256 ]] || [[ $(cat node_modules/.adam-lock-sha256) != "$lock_sum" ]]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.adam-lock-sha256
fi
