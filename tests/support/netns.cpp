#include "support/netns.h"

#include "core/kernel.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <system_error>

#include "core/tcx_ingress.h"

namespace adam::test {
namespace {

std::atomic<int> g_counter{0};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

int exit_status(int status) {
  if (status == -1) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

bool have_root() { return ::geteuid() == 0; }

int run(const std::string& command) {
  std::cerr << "+ " << command << std::endl;
  return exit_status(std::system(command.c_str()));
}

std::string capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

std::string xdp_mode_of(const std::string& ns, const std::string& ifname) {
  const auto links =
      nlohmann::json::parse(capture("ip -j -n " + ns + " link show " + ifname), nullptr, false);
  if (!links.is_array() || links.empty()) return "?";
  if (!links[0].contains("xdp")) return "none";
  const int mode = links[0]["xdp"].value("mode", -1);  // XDP_ATTACHED_*
  return mode == 1 ? "native" : mode == 2 ? "generic" : std::to_string(mode);
}

std::vector<uint32_t> tc_ingress_prog_ids(const std::string& ns, const std::string& ifname) {
  ScopedNetns in_ns(ns);
  const unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) return {};
  std::vector<uint32_t> ids(16);
  // The raw syscall: libbpf 1.1's bpf_prog_query() predates tcx. The union
  // of 6.1's uapi is larger than tcx's query (the kernel also writes the
  // revision), and zero beyond what is set.
  union bpf_attr attr {};
  attr.query.target_fd = ifindex;  // target_ifindex for tcx
  attr.query.attach_type = static_cast<__u32>(kBpfTcxIngress);
  attr.query.prog_ids = reinterpret_cast<__u64>(ids.data());
  attr.query.prog_cnt = static_cast<__u32>(ids.size());
  if (::syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) != 0) return {};
  ids.resize(std::min<size_t>(attr.query.prog_cnt, ids.size()));
  return ids;
}

NetnsPair::NetnsPair() {
  const std::string prefix = "adamt-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter++);
  a_ = prefix + "-a";
  b_ = prefix + "-b";
  const std::string steps[] = {
      "ip netns add " + a_,
      "ip netns add " + b_,
      "ip -n " + a_ + " link add veth-a type veth peer name veth-b netns " + b_,
      "ip -n " + a_ + " addr add 198.51.100.1/24 dev veth-a",
      "ip -n " + a_ + " addr add 2001:db8:100::1/64 dev veth-a nodad",
      "ip -n " + b_ + " addr add 198.51.100.2/24 dev veth-b",
      "ip -n " + b_ + " addr add 2001:db8:100::2/64 dev veth-b nodad",
      "ip -n " + a_ + " link set lo up",
      "ip -n " + b_ + " link set lo up",
      "ip -n " + a_ + " link set veth-a up",
      "ip -n " + b_ + " link set veth-b up",
  };
  for (const auto& step : steps) {
    if (run(step) != 0) {
      run("ip netns delete " + a_ + " 2>/dev/null");
      run("ip netns delete " + b_ + " 2>/dev/null");
      throw std::runtime_error("NetnsPair: '" + step + "' failed");
    }
  }
}

NetnsPair::~NetnsPair() {
  for (const auto& ns : {a_, b_}) {
    run("ip netns pids " + ns + " 2>/dev/null | xargs -r kill -9 2>/dev/null");
    run("ip netns delete " + ns);
  }
}

int NetnsPair::exec(const std::string& ns, const std::string& command) const {
  return run("ip netns exec " + ns + " sh -c " + quote(command));
}

ScopedNetns::ScopedNetns(const std::string& ns) {
  original_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_ < 0)
    throw std::runtime_error(std::string("ScopedNetns: cannot open own netns: ") + strerror(errno));
  const std::string path = "/run/netns/" + ns;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    const std::string why = strerror(errno);
    if (fd >= 0) ::close(fd);
    ::close(original_);
    throw std::runtime_error("ScopedNetns: cannot enter " + path + ": " + why);
  }
  ::close(fd);
}

ScopedNetns::~ScopedNetns() {
  if (original_ < 0) return;
  if (::setns(original_, CLONE_NEWNET) != 0)
    std::cerr << "ScopedNetns: cannot return to the original netns: " << strerror(errno) << std::endl;
  ::close(original_);
}

PinDir::PinDir() {
  // A test may be the first on a fresh machine to need bpffs (adamd mounts it too).
  adam::ensure_kernel_filesystems();
  static std::atomic<int> n{0};
  path_ = "/sys/fs/bpf/adamt-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);  // left by a crashed process of the same pid
  if (::mkdir(path_.c_str(), 0700) != 0)
    throw std::runtime_error("PinDir: cannot create " + path_ + ": " + strerror(errno));
}

PinDir::~PinDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) std::cerr << "PinDir: cannot remove " << path_ << ": " << ec.message() << std::endl;
}

}  // namespace adam::test

namespace adam::test {

void InNetnsTest::SetUp() {
  if (!have_root()) GTEST_SKIP() << "needs root";
  pair_ = std::make_unique<NetnsPair>();
  in_b_ = std::make_unique<ScopedNetns>(pair_->b());
  pins_ = std::make_unique<PinDir>();
}

bool InNetnsTest::ping() const {
  return pair_->exec(pair_->a(), "ping -q -c 5 -i 0.2 -W 1 198.51.100.2") == 0;
}

bool InNetnsTest::veth_b_has_xdp() const {
  return capture("ip -n " + pair_->b() + " link show veth-b").find("xdp") != std::string::npos;
}

std::string InNetnsTest::veth_b_xdp_mode() const { return xdp_mode_of(pair_->b(), "veth-b"); }

}  // namespace adam::test
