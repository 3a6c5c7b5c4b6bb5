// Kernel feature probing, pseudo filesystem mounting and log level parsing.
#include "core/kernel.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/bpf_handle.h"
#include "core/log.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace adam {
namespace {

#define REQUIRE_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root"

std::set<__u32> prog_ids() {
  std::set<__u32> ids;
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) ids.insert(id);
  return ids;
}

// Name of a loaded program, or "" when it is gone (or unreadable).
std::string prog_name(__u32 id) {
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return {};
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return {};
  return info.name;
}

bool is_probe_prog(const std::string& name) {
  return name.rfind("probe_", 0) == 0 || name.rfind("adam_probe", 0) == 0;
}

std::string describe(const KernelFeatures& f) {
  std::string out;
  for (const auto& [name, feat] : f.features) {
    out += "  " + name + ": " + (feat.available ? "available" : "unavailable") + " — " + feat.detail + "\n";
  }
  return out;
}

class KernelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    init_logging("info");
    // Tracepoints attach through tracefs; adamd mounts it before probing too.
    if (::geteuid() == 0) ensure_kernel_filesystems();
  }
};

TEST_F(KernelTest, ProbeFindsWhatThisMachineHas) {
  REQUIRE_ROOT();
  KernelFeatures f = probe_kernel_features();
  std::cout << "probe results:\n" << describe(f);
  for (const char* name :
       {"btf", "xdp", "tc", "tcx", "tracepoint", "ringbuf", "bpf_lsm", "fentry", "tp_btf", "raw_tp"}) {
    ASSERT_TRUE(f.features.count(name)) << name << " not probed";
    EXPECT_FALSE(f.detail(name).empty()) << name;
  }
  for (const char* name : {"btf", "xdp", "tc", "tracepoint", "ringbuf"}) {
    EXPECT_TRUE(f.has(name)) << name << ": " << f.detail(name);
  }
  if (!f.has("bpf_lsm")) {
    // The reason names what was tried or what is missing, with the kernel's answer.
    const std::string d = f.detail("bpf_lsm");
    EXPECT_TRUE(d.find("/sys/kernel/security/lsm") != std::string::npos ||
                d.find("BPF_PROG_TYPE_LSM") != std::string::npos)
        << d;
    EXPECT_NE(d.find(": "), std::string::npos) << "no error text in: " << d;
  }
  // tcx links came with Linux 6.6.
  struct utsname u {};
  ASSERT_EQ(::uname(&u), 0);
  int major = 0, minor = 0;
  ASSERT_EQ(std::sscanf(u.release, "%d.%d", &major, &minor), 2) << u.release;
  if (major > 6 || (major == 6 && minor >= 6))
    EXPECT_TRUE(f.has("tcx")) << u.release << ": " << f.detail("tcx");
  else
    EXPECT_NE(f.detail("tcx").find("6.6"), std::string::npos) << f.detail("tcx");
  if (!f.has("fentry")) {
    EXPECT_NE(f.detail("fentry").find("fentry/"), std::string::npos) << f.detail("fentry");
  }
  // The lsm plugin's fallbacks without BPF LSM: the reason names the program tried.
  for (const auto& [name, tried] :
       {std::pair{"cgroup_sock_addr", "cgroup/connect4"}, std::pair{"bpf_send_signal", "bpf_send_signal"}}) {
    ASSERT_TRUE(f.features.count(name)) << name << " not probed";
    EXPECT_NE(f.detail(name).find(tried), std::string::npos) << name << ": " << f.detail(name);
  }
  EXPECT_EQ(f.detail("no_such_feature"), "not probed");
  EXPECT_FALSE(f.has("no_such_feature"));
}

TEST_F(KernelTest, ProbingIsRepeatableAndLeavesNothingLoaded) {
  REQUIRE_ROOT();
  const auto before = prog_ids();
  KernelFeatures a = probe_kernel_features();
  KernelFeatures b = probe_kernel_features();
  for (const auto& [name, feat] : a.features) {
    ASSERT_TRUE(b.features.count(name)) << name;
    EXPECT_EQ(feat.available, b.features.at(name).available) << name;
    EXPECT_EQ(feat.detail, b.features.at(name).detail) << name;
  }
  EXPECT_EQ(a.features.size(), b.features.size());

  // Other processes on the machine may load programs meanwhile: only new
  // programs that are ours (probe_* / adam_probe*) count as leaks. Release of
  // links can lag a little, so give the kernel a moment.
  std::set<__u32> leaked;
  for (int attempt = 0; attempt < 20; ++attempt) {
    leaked.clear();
    for (__u32 id : prog_ids()) {
      if (before.count(id)) continue;
      if (is_probe_prog(prog_name(id))) leaked.insert(id);
    }
    if (leaked.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string ids;
  for (__u32 id : leaked) ids += " " + std::to_string(id) + "(" + prog_name(id) + ")";
  EXPECT_TRUE(leaked.empty()) << "probe programs still loaded:" << ids;
}

TEST_F(KernelTest, EnsureKernelFilesystemsIsIdempotent) {
  REQUIRE_ROOT();
  ensure_kernel_filesystems();  // whatever was missing is mounted now
  auto second = ensure_kernel_filesystems();
  std::string what;
  for (const auto& [path, action] : second) what += " " + path + "=" + action;
  EXPECT_TRUE(second.empty()) << "second call mounted again:" << what;
  struct statfs sfs {};
  ASSERT_EQ(::statfs("/sys/fs/bpf", &sfs), 0);
  EXPECT_EQ(static_cast<unsigned long>(sfs.f_type), static_cast<unsigned long>(BPF_FS_MAGIC));
}

TEST(LogTest, ValidLevelsWork) {
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    EXPECT_NO_THROW(init_logging(level)) << level;
  }
  init_logging("debug");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  init_logging("error");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
  init_logging("info");
}

TEST(LogTest, UnknownLevelThrowsNamingIt) {
  init_logging("warn");
  try {
    init_logging("loud");
    FAIL() << "no exception for 'loud'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'loud'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("trace|debug|info|warn|error"), std::string::npos) << e.what();
  }
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn) << "a bad level changed the logger";
  init_logging("info");
}

TEST(LibbpfErrorTest, TextForPlainAndLibbpfCodes) {
  EXPECT_EQ(libbpf_error(-EPERM), "Operation not permitted");
  EXPECT_EQ(libbpf_error(EPERM), "Operation not permitted");
  EXPECT_FALSE(libbpf_error(-LIBBPF_ERRNO__FORMAT).empty());
  EXPECT_NE(libbpf_error(-LIBBPF_ERRNO__FORMAT), libbpf_error(-EPERM));
}

}  // namespace
}  // namespace adam
