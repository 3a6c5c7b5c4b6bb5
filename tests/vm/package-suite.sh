#!/usr/bin/env bash
# The VmPackage test: packs this build's adamd and adamctl into the Debian
# package (cpack, the files `make package` makes, into a scratch dir), boots
# the VM with systemd as PID 1 (run-in-vm.sh --systemd) and runs
# tests/vm/package-guest.sh there: dpkg -i, the unit started, `adamctl node`,
# every plugin under the unit's capabilities and hardening, dpkg -r and
# --purge. dpkg -i in the guest writes to its tmpfs overlay only.
#
#   tests/vm/package-suite.sh BUILD_DIR
#
# Exit status: 0 passed, 1 failed, 77 skipped (the reason printed as
# "skipped: ..."); the console is kept in BUILD_DIR/vm/package-console.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
skip() {
  echo "skipped: $*"
  exit 77
}
[[ $(id -u) == 0 ]] || skip "needs root (the VM shares this machine's / with qemu)"
command -v cpack >/dev/null || skip "cpack is not installed (apt-get install cmake)"
command -v dpkg-shlibdeps >/dev/null || skip "dpkg-shlibdeps is not installed (apt-get install dpkg-dev)"
[[ -x $build/adamd && -x $build/adamctl ]] || skip "build adamd and adamctl first (cmake --build $build)"
vm_dir=${ADAM_VM_DIR:-$build/vm}
mkdir -p "$vm_dir"
scratch=$(mktemp -d "$vm_dir/package.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
if ! (cd "$build" && cpack -G DEB -B "$scratch") >"$scratch/cpack.log" 2>&1; then
  cat "$scratch/cpack.log"
  echo "package-suite: cpack failed" >&2
  exit 1
fi
deb=$(ls "$scratch"/adam_*_amd64.deb)
echo "package-suite: $(basename "$deb"), $(stat -c %s "$deb") bytes"
dpkg-deb --info "$deb" | sed -n 's/^ \(Depends\|Version\|Installed-Size\): /  \1: /p'
ADAM_VM_DIR=$vm_dir "$here/run-in-vm.sh" --systemd --timeout "${ADAM_VM_TIMEOUT:-600}" \
  --log "$vm_dir/package-console.log" -- "$here/package-guest.sh" "$deb"
