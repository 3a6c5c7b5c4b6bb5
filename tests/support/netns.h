#pragma once
// Test hosts: network namespaces and veth pairs that a test makes and removes
// itself (even when it fails), on the documentation ranges only.
#include <cstdint>
#include <string>
#include <vector>

namespace adam::test {

// True when the process may create network namespaces and load BPF (root).
bool have_root();

// Runs a shell command, returns its exit status; output goes to the test log.
int run(const std::string& command);
// Runs a shell command and returns its stdout.
std::string capture(const std::string& command);
// The XDP mode of the program on an interface of a namespace, as
// `ip -j link show` reports it: "native", "generic", "none" (or the number).
std::string xdp_mode_of(const std::string& ns, const std::string& ifname);
// The ids of the programs at the tc ingress (tcx) of an interface of a
// namespace, as the kernel lists them (BPF_PROG_QUERY); empty when none, or
// when the kernel has no tcx.
std::vector<uint32_t> tc_ingress_prog_ids(const std::string& ns, const std::string& ifname);

// Two namespaces "<prefix>-a" and "<prefix>-b" (prefix starts with "adamt"
// and is unique per process) joined by a veth pair: "veth-a" in a with
// 198.51.100.1/24 and 2001:db8:100::1/64, "veth-b" in b with 198.51.100.2/24
// and 2001:db8:100::2/64; lo up in both. The destructor deletes both
// namespaces (and with them the veth pair and everything attached to it).
class NetnsPair {
 public:
  NetnsPair();
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }
  // `ip netns exec <ns> <command>`, exit status.
  int exec(const std::string& ns, const std::string& command) const;

 private:
  std::string a_, b_;
};

// Moves the calling thread into a named network namespace for its lifetime,
// then back (BPF attach by ifindex and sockets follow the thread's netns).
class ScopedNetns {
 public:
  explicit ScopedNetns(const std::string& ns);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

 private:
  int original_ = -1;
};

// A unique bpffs directory "/sys/fs/bpf/adamt-<pid>-<n>" for one test's pins,
// removed (recursively) by the destructor.
class PinDir {
 public:
  PinDir();
  ~PinDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace adam::test

#include <gtest/gtest.h>

#include <memory>

namespace adam::test {

// Kernel-level tests on a fresh NetnsPair with the test thread inside
// namespace b and a pin dir of its own (destroyed in reverse: pins, netns, pair).
class InNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override;
  const std::string& pins() const { return pins_->path(); }
  // 5 pings from namespace a to b; true when they were answered.
  bool ping() const;
  // Whether `ip link show veth-b` (in b) shows an XDP program.
  bool veth_b_has_xdp() const;
  // xdp_mode_of(b, "veth-b").
  std::string veth_b_xdp_mode() const;

  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<ScopedNetns> in_b_;
  std::unique_ptr<PinDir> pins_;
};

}  // namespace adam::test
