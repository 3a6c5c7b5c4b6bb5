#pragma once
// What the running kernel can do, found by trying (loading and attaching tiny
// BPF programs, creating maps), never by reading a version number.
#include <map>
#include <string>

namespace adam {

struct KernelFeature {
  bool available = false;
  std::string detail;  // why not, or how it was found
};

struct KernelFeatures {
  // Keys: "btf", "xdp", "tc", "tcx", "tracepoint", "ringbuf", "bpf_lsm", "fentry",
  // "tp_btf" (BTF-typed raw tracepoints), "raw_tp" (raw tracepoints),
  // "cgroup_sock_addr" (cgroup/connect4 linked on the cgroup2 root),
  // "bpf_send_signal" (the helper in a raw_tp program).
  std::map<std::string, KernelFeature> features;

  bool has(const std::string& name) const {
    auto it = features.find(name);
    return it != features.end() && it->second.available;
  }
  std::string detail(const std::string& name) const {
    auto it = features.find(name);
    return it == features.end() ? "not probed" : it->second.detail;
  }
};

// Probes every feature above. Safe to call as root at any time; leaves nothing
// loaded or attached behind.
KernelFeatures probe_kernel_features();

// Mounts bpffs on /sys/fs/bpf, tracefs on /sys/kernel/tracing and securityfs on
// /sys/kernel/security where they are not mounted yet. Returns what it mounted.
// Throws std::runtime_error when bpffs cannot be had (adamd cannot pin without it).
std::map<std::string, std::string> ensure_kernel_filesystems();

}  // namespace adam

namespace adam {

// This machine's name (gethostname), as events and the node resource show it.
std::string host_name();

}  // namespace adam
