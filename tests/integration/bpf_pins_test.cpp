// What outlives adamd in bpffs, through the core's helpers (core/bpf_pins.h,
// core/pinned_link.h), with the link probe (tests/bpf/link_probe.bpf.c): a
// plugin's maps adopted all or none, pins opened with their type checked,
// and links on hooks that are not network devices (a tracepoint, a cgroup
// hook) that keep counting after the objects that made them are gone, are
// re-adopted by path, take a new program and are detached with their pins.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/bpf_handle.h"
#include "core/bpf_pins.h"
#include "core/pinned_link.h"
#include "link_probe.skel.h"
#include "support/netns.h"
#include "support/sanitizers.h"

namespace adam::test {
namespace {

namespace fs = std::filesystem;
using ProbeSkeleton = SkeletonPtr<link_probe_bpf, link_probe_bpf__destroy>;

ProbeSkeleton open_probe() {
  ProbeSkeleton skel(link_probe_bpf__open());
  if (!skel) throw std::runtime_error("cannot open the link probe: " + libbpf_error(-errno));
  return skel;
}

// One load of the probe, as one adamd makes it: its counters adopted from
// (or pinned in) `pin_dir`, each call adding `step`. `created`: the pins the
// load made.
ProbeSkeleton load_probe(const std::string& pin_dir, uint64_t step,
                         std::vector<std::string>* created = nullptr) {
  ProbeSkeleton skel = open_probe();
  skel->rodata->target_tgid = static_cast<uint32_t>(::getpid());
  skel->rodata->step = step;
  const bpf_map* own[] = {skel->maps.rodata};  // this load's step: not shared
  std::vector<std::string> pins = adopt_or_replace_map_pins(skel->obj, pin_dir, own, "link probe");
  if (int err = link_probe_bpf__load(skel.get()); err)
    throw std::runtime_error("cannot load the link probe: " + libbpf_error(err));
  if (created) *created = std::move(pins);
  return skel;
}

BpfLinkPtr attached(bpf_link* link, const std::string& what) {
  if (!link) throw std::runtime_error("cannot attach " + what + ": " + libbpf_error(-errno));
  return BpfLinkPtr(link);
}

uint64_t read_counter(int map_fd) {
  const uint32_t zero = 0;
  uint64_t value = 0;
  if (int err = bpf_map_lookup_elem(map_fd, &zero, &value); err)
    throw std::runtime_error("cannot read a counter: " + libbpf_error(err));
  return value;
}

void call_getppid(int times) {
  for (int i = 0; i < times; ++i) ::syscall(SYS_getppid);  // the syscall itself, whatever libc caches
}

// Whether `condition` holds within 5 s (polled; longer under sanitizers).
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(std::chrono::seconds(5));
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A cgroup v2 of the test's own, adamt-<pid>-links on the cgroup2 mount,
// removed with this guard (tests/cleanup-leftovers.sh removes it after a crash).
class TestCgroup {
 public:
  TestCgroup() {
    std::ifstream mounts("/proc/self/mounts");
    std::string line, device, dir, type;
    while (std::getline(mounts, line)) {
      std::istringstream(line) >> device >> dir >> type;
      if (type == "cgroup2") break;
    }
    if (type != "cgroup2") throw std::runtime_error("no cgroup2 mount");
    path_ = dir + "/adamt-" + std::to_string(::getpid()) + "-links";
    ::rmdir(path_.c_str());  // left by a crashed process of the same pid
    if (::mkdir(path_.c_str(), 0755) != 0)
      throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_) throw std::runtime_error("cannot open " + path_ + ": " + std::strerror(errno));
  }
  ~TestCgroup() {
    fd_.reset();
    // Its processes have exited; the kernel may take a moment to let it go.
    eventually([this] { return ::rmdir(path_.c_str()) == 0 || errno != EBUSY; });
  }
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  int fd() const { return fd_.get(); }

  // Creates `count` sockets from a child process inside the cgroup.
  void create_sockets(int count) const {
    const std::string procs = path_ + "/cgroup.procs";
    const pid_t child = ::fork();
    if (child == 0) {
      const int fd = ::open(procs.c_str(), O_WRONLY);
      if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(1);  // "0": the writer moves in
      for (int i = 0; i < count; ++i) {
        const int sock = ::socket(AF_INET, SOCK_DGRAM, 0);
        if (sock < 0) ::_exit(2);
        ::close(sock);
      }
      ::_exit(0);
    }
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error("the child creating sockets in " + path_ + " failed (status " +
                               std::to_string(status) + ")");
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

class BpfPinsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root";
    pins_ = std::make_unique<PinDir>();
  }
  std::string pin(const std::string& name) const { return pins_->path() + "/" + name; }

  std::unique_ptr<PinDir> pins_;
};

TEST_F(BpfPinsTest, AdoptsEveryPinnedMapOrReplacesThemAll) {
  std::vector<std::string> created;
  ProbeSkeleton first = load_probe(pins_->path(), 1, &created);
  EXPECT_EQ(created, (std::vector<std::string>{pin("link_probe_calls"), pin("link_probe_sockets")}));
  EXPECT_FALSE(fs::exists(map_pin_path(pins_->path(), first->maps.rodata)));  // excluded
  const uint32_t zero = 0;
  const uint64_t seven = 7;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(first->maps.link_probe_calls), &zero, &seven, BPF_ANY), 0);
  first.reset();

  // Same layout: both adopted, with what they hold.
  ProbeSkeleton second = load_probe(pins_->path(), 1, &created);
  EXPECT_TRUE(created.empty());
  EXPECT_EQ(read_counter(bpf_map__fd(second->maps.link_probe_calls)), 7u);
  second.reset();

  // One pin of another layout (an earlier build's): both are made anew.
  ASSERT_EQ(::unlink(pin("link_probe_sockets").c_str()), 0);
  UniqueFd other(bpf_map_create(BPF_MAP_TYPE_ARRAY, "link_probe_sock", 4, 8, 2, nullptr));
  ASSERT_TRUE(other) << libbpf_error(other.get());
  ASSERT_EQ(bpf_obj_pin(other.get(), pin("link_probe_sockets").c_str()), 0);
  ProbeSkeleton third = load_probe(pins_->path(), 1, &created);
  EXPECT_EQ(created.size(), 2u);
  EXPECT_EQ(read_counter(bpf_map__fd(third->maps.link_probe_calls)), 0u);
  const ProbeSkeleton layout = open_probe();
  EXPECT_TRUE(open_pinned_map(pin("link_probe_sockets"), layout->maps.link_probe_sockets));

  // The undo of a failed start: exactly those pins go.
  remove_pins(created);
  EXPECT_TRUE(fs::is_empty(pins_->path()));
}

TEST_F(BpfPinsTest, OpensPinsCheckingWhatTheyAre) {
  ProbeSkeleton probe = load_probe(pins_->path(), 1);
  const ProbeSkeleton layout = open_probe();
  ASSERT_EQ(bpf_obj_pin(bpf_program__fd(probe->progs.count_socket), pin("prog").c_str()), 0);

  EXPECT_FALSE(open_pinned_map(pin("absent"), layout->maps.link_probe_calls));
  EXPECT_TRUE(open_pinned_map(pin("link_probe_calls"), layout->maps.link_probe_calls));
  EXPECT_TRUE(open_pinned_prog(pin("prog"), BPF_PROG_TYPE_CGROUP_SOCK));
  EXPECT_FALSE(open_pinned_link(pin("absent"), LinkExpectation{.type = BPF_LINK_TYPE_CGROUP}));

  // Each error names the pin and what differs.
  auto mismatch = [](const std::function<void()>& open) -> std::string {
    try {
      open();
    } catch (const PinMismatch& e) {
      return e.what();
    }
    return "no PinMismatch";
  };
  EXPECT_EQ(mismatch([&] { open_pinned_map(pin("prog"), layout->maps.link_probe_calls); }),
            "pin " + pin("prog") + " is a program, not a map");
  EXPECT_EQ(mismatch([&] { open_pinned_prog(pin("prog"), BPF_PROG_TYPE_XDP); }),
            "pinned program " + pin("prog") + " is of type cgroup_sock, not xdp");
  EXPECT_EQ(mismatch([&] { open_pinned_link(pin("link_probe_calls"), {.type = BPF_LINK_TYPE_CGROUP}); }),
            "pin " + pin("link_probe_calls") + " is a map, not a link");
  bpf_map__set_max_entries(layout->maps.link_probe_calls, 2);  // as a build with a larger map would expect
  EXPECT_EQ(mismatch([&] { open_pinned_map(pin("link_probe_calls"), layout->maps.link_probe_calls); }),
            "pinned map " + pin("link_probe_calls") + " has another layout: max_entries 1 (this build: 2)");
}

// adamd's exit and restart around a tracepoint link and a cgroup link.
TEST_F(BpfPinsTest, LinksOffNetworkDevicesOutliveTheirLoaderAndTakeANewProgram) {
  TestCgroup cgroup;
  const std::string tp_pin = pin("tp@getppid"), cg_pin = pin("cgroup@sock_create");
  {
    ProbeSkeleton first = load_probe(pins_->path(), 1);
    pin_new_link(attached(bpf_program__attach(first->progs.count_getppid), "the tracepoint"), tp_pin,
                 "the tracepoint link");
    pin_new_link(
        attached(bpf_program__attach_cgroup(first->progs.count_socket, cgroup.fd()), "the cgroup hook"),
        cg_pin, "the cgroup link");
  }  // adamd exits: every fd of the load closes, the pins hold the links

  const ProbeSkeleton layout = open_probe();
  const UniqueFd calls = open_pinned_map(pin("link_probe_calls"), layout->maps.link_probe_calls);
  const UniqueFd sockets = open_pinned_map(pin("link_probe_sockets"), layout->maps.link_probe_sockets);
  ASSERT_TRUE(calls && sockets);
  call_getppid(3);
  EXPECT_EQ(read_counter(calls.get()), 3u);
  cgroup.create_sockets(2);
  EXPECT_EQ(read_counter(sockets.get()), 2u);

  // The next adamd: a new load, whose calls count 1000, re-adopts the links.
  ProbeSkeleton second = load_probe(pins_->path(), 1000);
  const int new_tp_prog = bpf_program__fd(second->progs.count_getppid);
  const int new_cg_prog = bpf_program__fd(second->progs.count_socket);
  EXPECT_THROW(open_pinned_link(tp_pin, {.type = BPF_LINK_TYPE_CGROUP}), PinMismatch);
  EXPECT_THROW(open_pinned_link(cg_pin, {.type = BPF_LINK_TYPE_CGROUP, .prog_name = "count_getppid"}),
               PinMismatch);
  EXPECT_THROW(open_pinned_link(cg_pin, {.type = BPF_LINK_TYPE_CGROUP, .prog_tag = prog_tag(new_tp_prog)}),
               PinMismatch);
  // The same code loaded again has the same tag.
  BpfLinkPtr tp = open_pinned_link(
      tp_pin,
      {.type = BPF_LINK_TYPE_PERF_EVENT, .prog_name = "count_getppid", .prog_tag = prog_tag(new_tp_prog)});
  BpfLinkPtr cg = open_pinned_link(cg_pin, {.type = BPF_LINK_TYPE_CGROUP, .prog_name = "count_socket"});
  ASSERT_TRUE(tp && cg);

  // The cgroup link takes the new program in place.
  ASSERT_TRUE(update_link_program(cg.get(), new_cg_prog, "the cgroup link"));
  cgroup.create_sockets(1);
  EXPECT_EQ(read_counter(sockets.get()), 2u + 1000);

  // A perf event link cannot be updated: a link of the new program takes
  // over its pin, then the old one goes (once the kernel drops the replaced
  // pin's reference, after an RCU grace period).
  EXPECT_THROW(update_link_program(tp.get(), new_tp_prog, "the tracepoint link"), std::runtime_error);
  tp = replace_pinned_link(std::move(tp),
                           attached(bpf_program__attach(second->progs.count_getppid), "the tracepoint"),
                           "the tracepoint link");
  EXPECT_FALSE(fs::exists(tp_pin + "@new"));
  bpf_prog_info new_prog{};
  __u32 len = sizeof(new_prog);
  ASSERT_EQ(bpf_obj_get_info_by_fd(new_tp_prog, &new_prog, &len), 0);
  EXPECT_EQ(
      link_info(bpf_link__fd(open_pinned_link(tp_pin, {.type = BPF_LINK_TYPE_PERF_EVENT}).get())).prog_id,
      new_prog.id);
  EXPECT_TRUE(eventually([&] {
    const uint64_t before = read_counter(calls.get());
    call_getppid(1);
    return read_counter(calls.get()) - before == 1000;
  })) << "the replaced tracepoint link still counts";

  // Detached with their pins: nothing counts any more.
  detach_pinned_link(std::move(tp), "the tracepoint link");
  detach_pinned_link(std::move(cg), "the cgroup link");
  EXPECT_FALSE(fs::exists(tp_pin));
  EXPECT_FALSE(fs::exists(cg_pin));
  EXPECT_TRUE(eventually([&] {
    const uint64_t before = read_counter(calls.get());
    call_getppid(1);
    return read_counter(calls.get()) == before;
  })) << "the detached tracepoint link still counts";
  const uint64_t created = read_counter(sockets.get());
  cgroup.create_sockets(1);
  EXPECT_EQ(read_counter(sockets.get()), created);
}

}  // namespace
}  // namespace adam::test
