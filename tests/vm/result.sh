#!/usr/bin/env bash
# A Vm* test: the verdict VmBoot's guest reported for NAME (in
# BUILD_DIR/vm/results.txt, see tests/vm/suite.sh). NAME ending in "." stands
# for every result under that prefix (VmLsmKernel.: each lsm kernel test run
# in the VM): it fails if one failed, skips if all skipped.
#   tests/vm/result.sh BUILD_DIR NAME
# Exit status: 0 PASS, 77 SKIP (the reason printed), 1 FAIL or no result (with
# the test's part of the console).
set -uo pipefail
vm_dir=${ADAM_VM_DIR:-$1/vm}
name=$2
results=$vm_dir/results.txt
console=$vm_dir/console.log

if [[ ! -f $results ]]; then
  echo "$name: no $results: VmBoot did not run (ctest -R '^Vm' runs it first)"
  exit 1
fi
if skipped=$(grep -m1 '^ADAM-VM-SKIPPED ' "$results"); then
  echo "$name skipped: ${skipped#ADAM-VM-SKIPPED }"
  exit 77
fi
if [[ $name == *. ]]; then
  lines=$(grep -F "ADAM-VM-RESULT $name" "$results")
else
  lines=$(grep -F "ADAM-VM-RESULT $name " "$results")
fi
if [[ -z $lines ]]; then
  echo "$name: the guest reported no result for it; the console's last lines ($console):"
  tail -n 60 "$console"
  exit 1
fi
echo "${lines//ADAM-VM-RESULT /}"
grep '^ADAM-VM-MEASURE ' "$results" | sed 's/^ADAM-VM-MEASURE /measured: /'
verdicts=$(awk '{ print $3 }' <<<"$lines")
if grep -qx FAIL <<<"$verdicts"; then
  # The GoogleTest output of each failed test, from its RUN line to its verdict
  # (names made as tests/vm/guest-suite.sh makes them).
  for failed in $(awk '$3 == "FAIL" { print $2 }' <<<"$lines"); do
    awk -v want="$failed" '
      /^\[ RUN      \] / {
        n = $4
        if (want ~ /^VmLsmKernel\./) n = "VmLsmKernel." n
        else sub(/\./, "", n)
        on = n == want
      }
      on { print }
      /^\[  FAILED  \] / { on = 0 }
    ' "$console"
  done
  exit 1
fi
if ! grep -qx PASS <<<"$verdicts"; then
  exit 77
fi
