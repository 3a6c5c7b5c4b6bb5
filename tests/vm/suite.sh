#!/usr/bin/env bash
# The VmBoot test: boots the BPF-LSM VM once (tests/vm/run-in-vm.sh) to run
# tests/vm/guest-suite.sh, and keeps what the other Vm* tests read
# (tests/vm/result.sh): BUILD_DIR/vm/results.txt, the guest's ADAM-VM-RESULT
# and ADAM-VM-MEASURE lines (or ADAM-VM-SKIPPED and the reason), and
# BUILD_DIR/vm/console.log, the whole serial console.
#   tests/vm/suite.sh BUILD_DIR
# Exit status: 0 when the guest ran the suite to its end (whatever its tests
# found), 77 when the VM cannot be had, else 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
vm_dir=${ADAM_VM_DIR:-$build/vm}
mkdir -p "$vm_dir"
results=$vm_dir/results.txt
console=$vm_dir/console.log
rm -f "$results" "$console"

started=$(date +%s)
ADAM_VM_DIR=$vm_dir "$here/run-in-vm.sh" --timeout "${ADAM_VM_TIMEOUT:-800}" --log "$console" \
  -- "$here/guest-suite.sh" "$build" >"$vm_dir/suite.out" 2>&1
status=$?
cat "$vm_dir/suite.out"
if ((status == 77)); then
  echo "ADAM-VM-SKIPPED $(sed -n 's/^skipped: //p' "$vm_dir/suite.out" | head -1)" >"$results"
  exit 77
fi
grep -a -E '^ADAM-VM-(RESULT|MEASURE) ' "$console" >"$results.tmp" 2>/dev/null
echo "ADAM-VM-MEASURE vm_total_s $(($(date +%s) - started))" >>"$results.tmp"
mv "$results.tmp" "$results"
echo "--- $results"
cat "$results"
if ((status != 0)); then
  echo "VmBoot: the VM did not run the suite to its end (status $status)" >&2
  exit 1
fi
if ! grep -q '^ADAM-VM-MEASURE suite_s ' "$results"; then
  echo "VmBoot: the guest suite stopped before its end" >&2
  exit 1
fi
