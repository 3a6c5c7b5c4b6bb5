#!/usr/bin/env bash
# What the VmBoot test runs inside the VM (tests/vm/suite.sh): the guest
# tests through adamd's API (build/tests/lsm_vm_guest_test), the lsm
# kernel tests (build/tests/lsm_kernel_test, told to expect bpf_lsm), the
# firewall's and the balancer's fixture tables (their programs verified and
# run by Debian 12's kernel, whose verifier is not this machine's), their
# output on the console, and one line per test:
#   ADAM-VM-RESULT <name> PASS|FAIL|SKIP <detail>
# where <name> is the GoogleTest suite and test run together for the guest
# tests (VmLsm.ExecDeny -> VmLsmExecDeny) and VmLsmKernel.<suite>.<test> for
# the kernel tests.
#   tests/vm/guest-suite.sh BUILD_DIR
set -uo pipefail
build=$1

echo "ADAM-VM-MEASURE ready_s $(cut -d' ' -f1 /proc/uptime)"

# GoogleTest's output on stdin, passed through, with a result line at the end
# of each test: its first failure's or skip's message (up to 6 lines, joined
# by " / ", cut at 400 bytes) as the detail, else its time. $1: the prefix of the names ("": the suite and test joined).
results() {
  awk -v prefix="$1" '
    function finish(verdict, name, time) {
      if (prefix == "") sub(/\./, "", name)
      else name = prefix name
      if (length(detail) > 400) detail = substr(detail, 1, 400) "..."
      print "ADAM-VM-RESULT " name " " verdict " " (detail != "" ? detail : time)
      detail = ""; grab = 0
      fflush()
    }
    { print; fflush() }
    /^\[ RUN      \] / { detail = ""; grab = 0; next }
    /: (Failure|Skipped)$/ { grab = detail == "" ? 6 : 0; next }
    grab && NF && !/^\[/ { line = $0; sub(/^ +/, "", line); detail = detail (detail == "" ? "" : " / ") line; grab--; next }
    /^\[/ { grab = 0 }
    /^\[       OK \] .* \(/ { finish("PASS", $4, $5 " " $6); next }
    /^\[  FAILED  \] .* \(/ { finish("FAIL", $4, $5 " " $6); next }
    /^\[  SKIPPED \] .* \(/ { finish("SKIP", $4, $5 " " $6); next }
  '
}

guest_test=$build/tests/lsm_vm_guest_test
"$guest_test" --gtest_color=no 2>&1 | results ""

kernel_test=$build/tests/lsm_kernel_test
if [[ -x $kernel_test ]]; then
  ADAM_LSM_EXPECT_MECHANISM=bpf_lsm "$kernel_test" --gtest_color=no 2>&1 | results "VmLsmKernel."
else
  echo "ADAM-VM-RESULT VmLsmKernel. FAIL $kernel_test is not built"
fi
# One test each: a whole data path test takes minutes under TCG (the
# firewall's: 308 s), its fixture table a minute.
datapath_test() {
  local test=$build/tests/$1
  if [[ -x $test ]]; then
    "$test" --gtest_color=no --gtest_filter="$2" 2>&1 | results "VmDatapath."
  else
    echo "ADAM-VM-RESULT VmDatapath.$2 FAIL $test is not built"
  fi
}
datapath_test firewall_datapath_test FirewallDatapathTest.DecidesEveryFixtureFrame
datapath_test lb_datapath_test LbDatapathTest.HandlesEveryFixtureFrame
echo "ADAM-VM-MEASURE suite_s $(cut -d' ' -f1 /proc/uptime)"
