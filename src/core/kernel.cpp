// Kernel feature probing (by loading and attaching throw-away programs) and
// mounting of the pseudo filesystems adamd needs.
#include "core/kernel.h"
#include "core/log.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/bpf_handle.h"
#include "core/tcx_ingress.h"
#include "feature_probe.skel.h"

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif
#ifndef SECURITYFS_MAGIC
#define SECURITYFS_MAGIC 0x73636673
#endif
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace adam {
namespace {

constexpr const char* kLsmFile = "/sys/kernel/security/lsm";

std::string errno_text(int err) {
  char buf[256];
  return ::strerror_r(err < 0 ? -err : err, buf, sizeof buf);  // GNU variant: returns the text
}

// libbpf reports every failed load of a probe at warn level (with the verifier
// log); a probe failing is an expected answer, so those messages go to debug.
int probe_print(enum libbpf_print_level, const char* fmt, va_list args) {
  if (!spdlog::should_log(spdlog::level::debug)) return 0;
  const std::string msg = format_libbpf_message(fmt, args);
  if (!msg.empty()) spdlog::debug("(feature probe) {}", msg);
  return 0;
}

// Swaps libbpf's print callback for probe_print while alive.
class QuietLibbpf {
 public:
  QuietLibbpf() : previous_(libbpf_set_print(probe_print)) {}
  ~QuietLibbpf() { libbpf_set_print(previous_); }
  QuietLibbpf(const QuietLibbpf&) = delete;
  QuietLibbpf& operator=(const QuietLibbpf&) = delete;

 private:
  libbpf_print_fn_t previous_;
};

KernelFeature ok(std::string detail) { return {true, std::move(detail)}; }
KernelFeature fail(std::string detail) { return {false, std::move(detail)}; }

KernelFeature probe_btf() {
  errno = 0;
  struct btf* btf = btf__load_vmlinux_btf();
  if (!btf) {
    int err = errno ? errno : ENOENT;
    return fail("loading the kernel's BTF (btf__load_vmlinux_btf, /sys/kernel/btf/vmlinux) failed: " +
                errno_text(err));
  }
  unsigned types = btf__type_cnt(btf);
  btf__free(btf);
  return ok("vmlinux BTF loaded (" + std::to_string(types) + " types)");
}

// Loads "r0 = ret; exit" as a program of `type`, then unloads it.
KernelFeature probe_prog_type(bpf_prog_type type, const char* type_name, const char* prog_name, int ret) {
  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = ret;
  insns[1].code = BPF_JMP | BPF_EXIT;
  int fd = bpf_prog_load(type, prog_name, "GPL", insns, 2, nullptr);
  if (fd < 0) {
    return fail(std::string("loading a ") + type_name + " program failed: " + libbpf_error(fd));
  }
  ::close(fd);
  return ok(std::string("loaded a ") + type_name + " program");
}

KernelFeature probe_ringbuf() {
  long page = ::sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "adam_probe_rb", 0, 0, static_cast<__u32>(page), nullptr);
  if (fd < 0) return fail("creating a BPF_MAP_TYPE_RINGBUF map failed: " + libbpf_error(fd));
  ::close(fd);
  return ok("created a BPF_MAP_TYPE_RINGBUF map");
}

using ProbeSkel = SkeletonPtr<feature_probe_bpf, feature_probe_bpf__destroy>;

// Opens the feature_probe_bpf object with only program `prog_name` to be loaded,
// loads it and attaches that program; everything is released before returning. On failure,
// returns the step that failed and why; on success an empty string.
std::string load_and_attach(const char* prog_name, const std::string& what, const std::string& prog_type) {
  ProbeSkel skel(feature_probe_bpf__open());
  if (!skel) return "opening the feature probe BPF object failed: " + errno_text(errno ? errno : EINVAL);
  bpf_program* wanted = bpf_object__find_program_by_name(skel->obj, prog_name);
  if (!wanted) return std::string("the feature probe BPF object has no program ") + prog_name;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) { bpf_program__set_autoload(prog, prog == wanted); }
  if (int err = feature_probe_bpf__load(skel.get()); err) {
    return "loading a " + prog_type + " program (" + what + ") failed: " + libbpf_error(err);
  }
  errno = 0;
  BpfLinkPtr link(bpf_program__attach(wanted));
  if (!link) {
    int err = errno ? errno : EINVAL;
    return "attaching a " + prog_type + " program (" + what + ") failed: " + errno_text(err);
  }
  return {};  // link, then program and object released here
}

bool exists(const char* path) { return ::access(path, F_OK) == 0; }

KernelFeature probe_tracepoint() {
  const std::string what = "tracepoint/sched/sched_process_exec";
  std::string err = load_and_attach("probe_tp", what, "BPF_PROG_TYPE_TRACEPOINT");
  if (err.empty()) return ok("loaded and attached a " + what + " program");
  if (!exists("/sys/kernel/tracing/events") && !exists("/sys/kernel/debug/tracing/events")) {
    err += " (tracefs is not mounted on /sys/kernel/tracing)";
  }
  return fail(err);
}

// A raw tracepoint program of kind `kind` (tp_btf or raw_tp) on sched_process_exec.
KernelFeature probe_raw_tracepoint(const char* prog_name, const std::string& kind,
                                   const std::string& prog_type) {
  const std::string what = kind + "/sched_process_exec";
  std::string err = load_and_attach(prog_name, what, prog_type);
  if (err.empty()) return ok("loaded and attached a " + what + " program");
  return fail(err);
}

KernelFeature probe_fentry() {
  const std::string what = "fentry/do_unlinkat";
  std::string err = load_and_attach("probe_fentry", what, "BPF_PROG_TYPE_TRACING");
  if (err.empty()) return ok("loaded and attached an " + what + " program");
  return fail(err);
}

KernelFeature probe_bpf_lsm() {
  std::vector<std::string> problems;
  bool listed = false;
  std::ifstream in(kLsmFile);
  if (!in) {
    int err = errno;
    std::string reason = "cannot read " + std::string(kLsmFile) + ": " + errno_text(err ? err : ENOENT);
    struct statfs sfs {};
    if (::statfs("/sys/kernel/security", &sfs) != 0 || sfs.f_type != SECURITYFS_MAGIC) {
      reason += " (securityfs is not mounted on /sys/kernel/security)";
    }
    problems.push_back(reason);
  } else {
    std::string content;
    std::getline(in, content);
    while (!content.empty() && (content.back() == '\n' || content.back() == ' ')) content.pop_back();
    std::stringstream ss(content);
    for (std::string item; std::getline(ss, item, ',');) listed = listed || item == "bpf";
    if (!listed) problems.push_back("BPF LSM not in " + std::string(kLsmFile) + " (" + content + ")");
  }
  const std::string what = "lsm/file_open";
  std::string err = load_and_attach("probe_lsm", what, "BPF_PROG_TYPE_LSM");
  if (!err.empty()) problems.push_back(err);
  if (problems.empty()) {
    return ok("loaded and attached an " + what + " program; bpf is in " + std::string(kLsmFile));
  }
  std::string detail;
  for (const auto& p : problems) detail += (detail.empty() ? "" : "; ") + p;
  return fail(detail);
}

// Where cgroup v2 is mounted (/proc/mounts), "" when it is not.
std::string cgroup2_root() {
  std::ifstream mounts("/proc/mounts");
  for (std::string device, dir, type, rest; mounts >> device >> dir >> type && std::getline(mounts, rest);)
    if (type == "cgroup2") return dir;
  return {};
}

// Opens the feature probe object into `skel` and loads only `prog_name`
// (`what` names it in the reason). Returns why not, or "".
std::string load_only(ProbeSkel& skel, const char* prog_name, const std::string& what) {
  skel.reset(feature_probe_bpf__open());
  if (!skel) return "opening the feature probe BPF object failed: " + errno_text(errno ? errno : EINVAL);
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    bpf_program__set_autoload(prog, std::string(bpf_program__name(prog)) == prog_name);
  }
  if (int err = feature_probe_bpf__load(skel.get()); err)
    return "loading " + what + " failed: " + libbpf_error(err);
  return {};
}

// A cgroup/connect4 program attached as a link on the cgroup2 root, detached
// at once: what the lsm plugin's cgroup mechanism needs.
KernelFeature probe_cgroup_sock_addr() {
  const std::string root = cgroup2_root();
  if (root.empty()) return fail("cgroup v2 is not mounted (no cgroup2 in /proc/mounts)");
  ProbeSkel skel;
  if (std::string err = load_only(skel, "probe_cgroup_connect4", "a cgroup/connect4 program"); !err.empty())
    return fail(err);
  const UniqueFd cgroup(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup) return fail("opening the cgroup v2 root " + root + " failed: " + errno_text(errno));
  errno = 0;
  BpfLinkPtr link(bpf_program__attach_cgroup(skel->progs.probe_cgroup_connect4, cgroup.get()));
  if (!link)
    return fail("attaching a cgroup/connect4 link to " + root +
                " failed: " + errno_text(errno ? errno : EINVAL));
  return ok("attached a cgroup/connect4 program as a link on the cgroup v2 root " + root);
}

// A raw_tp program that calls bpf_send_signal, loaded (the verifier checks
// that the helper is allowed), never attached.
KernelFeature probe_bpf_send_signal() {
  ProbeSkel skel;
  if (std::string err = load_only(skel, "probe_send_signal", "a raw_tp program that calls bpf_send_signal");
      !err.empty())
    return fail(err);
  return ok("loaded a raw_tp/sched_process_exec program that calls bpf_send_signal");
}

// What the lsm plugin's fanotify back end needs: a permission-class group
// and a FAN_OPEN_EXEC_PERM mark (the newest of its two masks, Linux 5.0).
// The mark is on the root directory, where no exec can happen, and not on a
// file of its own: under the systemd unit (ProtectSystem=strict) adamd can
// create none outside its state dir.
KernelFeature probe_fanotify() {
  int group = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (group < 0) return fail("fanotify_init(FAN_CLASS_CONTENT) failed: " + errno_text(errno));
  int root = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    int err = errno;
    ::close(group);
    return fail("opening / for the probe's mark failed: " + errno_text(err));
  }
  int marked = ::fanotify_mark(group, FAN_MARK_ADD, FAN_OPEN_EXEC_PERM, root, nullptr);
  int err = errno;
  ::close(root);
  ::close(group);  // its mark goes with it
  if (marked != 0) return fail("a FAN_OPEN_EXEC_PERM mark on / failed: " + errno_text(err));
  return ok("fanotify_init(FAN_CLASS_CONTENT) and a FAN_OPEN_EXEC_PERM mark on /");
}

std::mutex probe_mutex;

bool fs_is(const char* path, long magic) {
  struct statfs sfs {};
  return ::statfs(path, &sfs) == 0 && static_cast<long>(sfs.f_type) == magic;
}

// mkdir -p path, then mount; returns an empty string or the reason it failed.
std::string mount_fs(const char* path, const char* source, const char* type, unsigned long flags,
                     const char* data) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return "cannot create " + std::string(path) + ": " + ec.message();
  if (::mount(source, path, type, flags, data) != 0) {
    return "mount -t " + std::string(type) + " " + source + " " + path + " failed: " + errno_text(errno);
  }
  return {};
}

}  // namespace

KernelFeatures probe_kernel_features() {
  std::lock_guard lock(probe_mutex);  // one prober at a time: the print callback swap is global
  QuietLibbpf quiet;
  KernelFeatures out;
  auto& f = out.features;
  f["btf"] = probe_btf();
  f["xdp"] = probe_prog_type(BPF_PROG_TYPE_XDP, "BPF_PROG_TYPE_XDP", "adam_probe_xdp", 2 /* XDP_PASS */);
  f["tc"] =
      probe_prog_type(BPF_PROG_TYPE_SCHED_CLS, "BPF_PROG_TYPE_SCHED_CLS", "adam_probe_tc", 0 /* TC_ACT_OK */);
  const std::string no_tcx = tcx_unsupported_reason();
  f["tcx"] = no_tcx.empty() ? ok("created a tcx link (tc ingress, BPF_TCX_INGRESS)") : fail(no_tcx);
  f["ringbuf"] = probe_ringbuf();
  f["tracepoint"] = probe_tracepoint();
  f["bpf_lsm"] = probe_bpf_lsm();
  f["fentry"] = probe_fentry();
  f["tp_btf"] = probe_raw_tracepoint("probe_tp_btf", "tp_btf", "BPF_PROG_TYPE_TRACING");
  f["raw_tp"] = probe_raw_tracepoint("probe_raw_tp", "raw_tp", "BPF_PROG_TYPE_RAW_TRACEPOINT");
  f["cgroup_sock_addr"] = probe_cgroup_sock_addr();
  f["bpf_send_signal"] = probe_bpf_send_signal();
  f["fanotify"] = probe_fanotify();
  for (const auto& [name, feature] : f) {
    spdlog::debug("kernel feature {}: {} ({})", name, feature.available ? "available" : "unavailable",
                  feature.detail);
  }
  return out;
}

std::map<std::string, std::string> ensure_kernel_filesystems() {
  std::map<std::string, std::string> mounted;
  constexpr unsigned long kPseudoFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

  const char* bpffs = "/sys/fs/bpf";
  if (!fs_is(bpffs, BPF_FS_MAGIC)) {
    std::string err = mount_fs(bpffs, "bpf", "bpf", kPseudoFlags, "mode=0700");
    if (!err.empty())
      throw std::runtime_error("bpffs is not mounted on /sys/fs/bpf and mounting it failed: " + err);
    spdlog::info("mounted bpffs on {}", bpffs);
    mounted[bpffs] = "mounted bpf";
  }

  const char* tracefs = "/sys/kernel/tracing";
  // Also fine: the tracefs that debugfs automounts under /sys/kernel/debug/tracing.
  if (!fs_is(tracefs, TRACEFS_MAGIC) && !fs_is("/sys/kernel/debug/tracing", TRACEFS_MAGIC)) {
    std::string err = mount_fs(tracefs, "tracefs", "tracefs", kPseudoFlags, nullptr);
    if (err.empty()) {
      spdlog::info("mounted tracefs on {}", tracefs);
      mounted[tracefs] = "mounted tracefs";
    } else {
      spdlog::warn("tracefs is not mounted and mounting it failed ({}): tracepoint programs cannot attach",
                   err);
    }
  }

  const char* securityfs = "/sys/kernel/security";
  if (!fs_is(securityfs, SECURITYFS_MAGIC)) {
    std::string err = mount_fs(securityfs, "securityfs", "securityfs", kPseudoFlags, nullptr);
    if (err.empty()) {
      spdlog::info("mounted securityfs on {}", securityfs);
      mounted[securityfs] = "mounted securityfs";
    } else {
      spdlog::warn("securityfs is not mounted and mounting it failed ({}): the active LSMs cannot be read",
                   err);
    }
  }
  return mounted;
}

}  // namespace adam

namespace adam {

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace adam
