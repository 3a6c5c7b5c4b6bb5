#!/usr/bin/env bash
# Runs after the test suite (a CTest cleanup fixture): removes what a test that
# crashed before its own cleanup could leave behind. Tests name everything they
# create with the "adamt" prefix and the creating process's pid
# (adamt-<pid>-<n>, adamt-bench-<pid>...), so nothing else is touched, and
# neither is what a live process (another test run, a benchmark) still uses.
set -u
# Is the name's creator gone? Names without a pid count as leftovers.
orphaned() {
  local pid
  pid=$(grep -oE '[0-9]+' <<<"$1" | head -n1)
  [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null
}
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^adamt'); do
  orphaned "$ns" || continue
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns delete "$ns" 2>/dev/null
done
for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^adamt'); do
  orphaned "$link" && ip link delete "$link" 2>/dev/null
done
for pin in /sys/fs/bpf/adamt-*; do
  [[ -e "$pin" ]] && orphaned "${pin#/sys/fs/bpf/}" && rm -rf "$pin"
done
# Test cgroups (adamt-<pid>-links) on the cgroup v2 mount: empty once their
# processes are gone, then rmdir removes them.
cgroup2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
for cg in "${cgroup2:-/nonexistent}"/adamt-*; do
  [[ -d "$cg" ]] && orphaned "${cg##*/}" && rmdir "$cg" 2>/dev/null
done
left=$( (ip netns list | grep '^adamt'; ls -d /sys/fs/bpf/adamt-* 2>/dev/null) | wc -l)
echo "cleanup: ${left} test leftovers remain (of live processes, or undeletable)"
exit 0
