#!/usr/bin/env bash
# Runs after the test suite (a CTest cleanup fixture): removes what a test that
# crashed before its own cleanup could leave behind. Tests name everything they
# create with the "adamt" prefix, so nothing else is touched.
set -u
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^adamt'); do
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns delete "$ns" 2>/dev/null
done
for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^adamt'); do
  ip link delete "$link" 2>/dev/null
done
rm -rf /sys/fs/bpf/adamt-* 2>/dev/null
left=$( (ip netns list | grep '^adamt'; ls -d /sys/fs/bpf/adamt-* 2>/dev/null) | wc -l)
echo "cleanup: ${left} test leftovers remain"
exit 0
