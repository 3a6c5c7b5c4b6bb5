// The fanotify back end (docs/lsm.md "fanotify"): exec and file policies
// enforced by a permission-class fanotify group that adamd answers.
//
//   kernel ──events──► reader thread ──queue──► decider thread ──► FAN_ALLOW / FAN_DENY
//                        │  (times each event,     (subject from /proc,
//                        │   answers what waited    first_match, hits, event)
//                        │   past answer_ms by the
//                        │   fail mode)
//                        └─ inotify: new directories under a marked prefix, a
//                           replaced or created exact path → marked
//
// Two threads so that the answer time is bounded even while a decision is
// stuck (a /proc read of a process in trouble): the reader answers, by the
// fail mode, whatever is still unanswered at its deadline.
#include "plugins/lsm/fanotify_enforcer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "core/bpf_handle.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/metrics.h"
#include "plugins/lsm/enforcer.h"
#include "plugins/lsm/subject.h"
#include "plugins/monitor/proc_scan.h"

namespace adam::lsm {

uint8_t access_of_open_flags(uint32_t flags) {
  uint8_t access = 0;
  const uint32_t mode = flags & O_ACCMODE;
  if (mode == O_RDONLY || mode == O_RDWR) access |= ADAM_LSM_ACCESS_READ;
  if (mode == O_WRONLY || mode == O_RDWR || (flags & (O_TRUNC | O_APPEND | O_CREAT)))
    access |= ADAM_LSM_ACCESS_WRITE;
  return access;
}

namespace {

// A small /proc file (status, stat, comm, cgroup, syscall: each well under
// 4 KiB), in one read: what the answer waits for stays a few system calls.
std::optional<std::string> read_text(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[4096];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

OpenIntent read_open_intent(uint32_t tid, const std::string& proc_root) {
  const std::string task = proc_root + "/" + std::to_string(tid);
  const auto text = read_text(task + "/syscall");
  OpenIntent unknown{ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE, 0, false};
  if (!text) return unknown;
  // "257 0xffffff9c 0x7ffc... 0x241 0x1b6 0x0 0x0 0x7ffc... 0x7f..."
  std::istringstream in(*text);
  long nr = -1;
  in >> nr;
  uint64_t args[6] = {};
  for (auto& arg : args) {
    std::string word;
    if (!(in >> word) || word.size() < 3) return unknown;
    std::from_chars(word.data() + 2, word.data() + word.size(), arg, 16);
  }
  auto of_flags = [](uint64_t flags) {
    const auto f = static_cast<uint32_t>(flags);
    return OpenIntent{access_of_open_flags(f), f, true};
  };
  switch (nr) {
#ifdef SYS_open
    case SYS_open:
      return of_flags(args[1]);
#endif
#ifdef SYS_creat
    case SYS_creat:
      return of_flags(O_CREAT | O_WRONLY | O_TRUNC);
#endif
    case SYS_openat:
    case SYS_open_by_handle_at:
      return of_flags(args[2]);
    case SYS_openat2: {
      // struct open_how { __u64 flags; __u64 mode; __u64 resolve; }: the flags lead.
      UniqueFd mem(::open((task + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
      uint64_t flags = 0;
      if (!mem || ::pread(mem.get(), &flags, sizeof flags, static_cast<off_t>(args[2])) != sizeof flags)
        return unknown;
      return of_flags(flags);
    }
    case SYS_execve:
    case SYS_execveat:
      return {ADAM_LSM_ACCESS_READ, 0, true};
    default:
      return unknown;
  }
}

namespace {

using SteadyClock = std::chrono::steady_clock;

// Directories and files one policy set may mark: a prefix over a larger tree
// is refused (422) rather than enforced with holes.
constexpr size_t kMaxMarks = 16384;
// What a new directory under a marked prefix, or the creation or replacement
// of an exact path, reports (to the group that keeps the marks whole).
constexpr uint32_t kWatchMask = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR;
constexpr size_t kExemptCacheMax = 4096;
// How long a replaced group's descriptor stays open after its marks are
// flushed: an open that found its mark just before still gets an answer.
constexpr auto kRetireGrace = std::chrono::seconds(1);

bool is_prefix(const std::string& pattern) { return !pattern.empty() && pattern.back() == '/'; }

// "/a/b/" → "/a/b"; "/" stays.
std::string dir_of_prefix(const std::string& prefix) {
  return prefix.size() > 1 ? prefix.substr(0, prefix.size() - 1) : prefix;
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// What one resolved policy path needs marked, with the kind's mask.
struct Target {
  std::string path;   // exact, or a prefix ending in '/'
  uint64_t mask = 0;  // FAN_OPEN_EXEC_PERM or FAN_OPEN_PERM
  bool operator<(const Target& o) const { return std::tie(path, mask) < std::tie(o.path, o.mask); }
};

uint64_t mask_of(Kind kind) { return kind == Kind::exec ? FAN_OPEN_EXEC_PERM : FAN_OPEN_PERM; }

// One fanotify group, its marks, and the inotify watches that keep them
// whole as directories appear. Built whole by apply(); afterwards only the
// reader thread changes it.
class Group {
 public:
  Group() {
    fan_.reset(::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_TID |
                                   FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
                               O_RDONLY | O_LARGEFILE | O_CLOEXEC));
    if (!fan_) throw std::runtime_error(std::string("fanotify_init failed: ") + std::strerror(errno));
    notify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!notify_) throw std::runtime_error(std::string("inotify_init1 failed: ") + std::strerror(errno));
  }

  int fan() const { return fan_.get(); }
  int notify() const { return notify_.get(); }
  size_t marks() const { return marks_.load(); }
  size_t unmarked() const { return unmarked_.load(); }

  // Marks what `target` needs now; false when the mark budget ran out.
  bool cover(const Target& target) {
    if (is_prefix(target.path)) {
      const std::string dir = dir_of_prefix(target.path);
      if (is_dir(dir)) return mark_tree(dir, target.mask);
      return watch_nearest(parent_of(dir));
    }
    if (exists(target.path)) {
      watch(parent_of(target.path));  // a replacement (rename over it) is a new inode
      return mark(target.path, target.mask);
    }
    const std::string parent = parent_of(target.path);
    // Not there yet: its directory's children are watched by fanotify itself,
    // so the file is covered the moment it is created.
    if (is_dir(parent)) return watch(parent) && mark(parent, target.mask | FAN_EVENT_ON_CHILD);
    return watch_nearest(parent_of(parent));
  }

  // An inotify event: `child` appeared in a watched directory.
  void appeared(const std::string& child, bool dir, const std::vector<Target>& targets) {
    for (const auto& t : targets) {
      if (is_prefix(t.path) && (child + "/").starts_with(t.path)) {
        if (dir) mark_tree(child, t.mask);  // files in marked directories are covered already
      } else if (t.path == child || t.path.starts_with(child + "/")) {
        cover(t);
      }
    }
  }

  // The directory an inotify watch descriptor names ("" once it is gone).
  std::string watched(int wd) const {
    auto it = watches_.find(wd);
    return it == watches_.end() ? std::string() : it->second;
  }
  // Its directory is gone (and the kernel dropped its mark with the
  // inode): no longer counted against the bound, so churn under a prefix
  // (/tmp/) does not use it up.
  void unwatched(int wd) {
    auto it = watches_.find(wd);
    if (it == watches_.end()) return;
    marked_.erase(it->second);
    marks_ = marked_.size();
    watches_.erase(it);
  }

 private:
  bool mark(const std::string& path, uint64_t mask) {
    if (!marked_.count(path) && marked_.size() >= kMaxMarks) {
      // apply() refuses such a set; here a tree grew past the bound since.
      if (unmarked_++ == 0)
        spdlog::warn("lsm: fanotify marks {} inodes already: {} and what appears after it is not enforced",
                     kMaxMarks, path);
      return false;
    }
    if (::fanotify_mark(fan_.get(), FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW, mask, AT_FDCWD, path.c_str()) != 0) {
      // Gone since it was seen: its parent's watch reports it if it comes back.
      return errno == ENOENT;
    }
    marked_.insert(path);
    marks_ = marked_.size();
    return true;
  }

  bool watch(const std::string& dir) {
    int wd = ::inotify_add_watch(notify_.get(), dir.c_str(), kWatchMask);
    if (wd < 0) return errno == ENOENT;
    watches_[wd] = dir;
    return true;
  }

  bool watch_nearest(std::string dir) {
    while (!is_dir(dir)) dir = parent_of(dir);
    return watch(dir);
  }

  // `dir` and every directory below it (symlinks not followed), each
  // watched before it is listed so a subdirectory made meanwhile is seen.
  bool mark_tree(const std::string& dir, uint64_t mask) {
    namespace fs = std::filesystem;
    if (!watch(dir) || !mark(dir, mask | FAN_EVENT_ON_CHILD)) return false;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
      const std::string sub = it->path().string();
      if (!watch(sub) || !mark(sub, mask | FAN_EVENT_ON_CHILD)) return false;
    }
    return true;
  }

  UniqueFd fan_;
  UniqueFd notify_;
  std::set<std::string> marked_;
  std::map<int, std::string> watches_;
  std::atomic<size_t> marks_{0};
  std::atomic<size_t> unmarked_{0};
};

// A policy set as this back end enforces it.
struct PolicySet {
  std::vector<Policy> policies;
  std::vector<Target> targets;
  std::shared_ptr<Group> group;
  // What a decision needs to read beyond the path, uid and comm.
  bool scoped_by_cgroup = false, scoped_by_parent = false;
};

// One permission event read from a group, until it is answered.
struct Pending {
  std::shared_ptr<Group> group;  // answered on its descriptor
  UniqueFd file;                 // the event's file (closing it is the kernel's cue to free the event)
  uint32_t tid = 0;
  Kind kind = Kind::exec;
  std::string path;  // the file's, as the event's descriptor names it
  SteadyClock::time_point read_at;
  bool answered = false;  // under the enforcer's mutex
};

// Whether a policy of `kind` (only those failing closed, if asked) names `path`.
bool named(const PolicySet& set, Kind kind, const std::string& path, bool fail_closed_only = false) {
  for (const auto& policy : set.policies) {
    if (policy.kind != kind || (fail_closed_only && !policy.fail_closed)) continue;
    for (const auto& pattern : policy.resolved.path)
      if (path_matches(pattern, path)) return true;
  }
  return false;
}

// The identity of a process within this boot: its pid and start time.
using ProcKey = std::pair<uint32_t, uint64_t>;

struct ProcStatus {
  uint32_t tgid = 0, ppid = 0, uid = 0;
};

std::optional<ProcStatus> read_status(uint32_t tid, const std::string& proc_root) {
  const auto text = read_text(proc_root + "/" + std::to_string(tid) + "/status");
  if (!text) return std::nullopt;
  ProcStatus s;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "Tgid:") fields >> s.tgid;
    if (key == "PPid:") fields >> s.ppid;
    if (key == "Uid:") fields >> s.uid;  // the real uid leads
  }
  return s;
}

// Fields 4, 22 and 28 of /proc/PID/stat (counted after the comm's closing
// parenthesis): the parent, and the start time and stack that make the
// exec id (plugins/monitor/process.h).
struct ProcStat {
  uint32_t ppid = 0;
  uint64_t start_ticks = 0, start_stack = 0;
};
std::optional<ProcStat> read_stat(uint32_t pid, const std::string& proc_root) {
  const auto text = read_text(proc_root + "/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  const size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(text->substr(close + 2));
  ProcStat s;
  std::string f;
  for (int n = 3; n <= 28 && in >> f; ++n) {
    if (n == 4) std::from_chars(f.data(), f.data() + f.size(), s.ppid);
    if (n == 22) std::from_chars(f.data(), f.data() + f.size(), s.start_ticks);
    if (n == 28) std::from_chars(f.data(), f.data() + f.size(), s.start_stack);
  }
  return s;
}

class FanotifyEnforcer final : public Enforcer {
 public:
  explicit FanotifyEnforcer(const FanotifySetup& setup)
      : kinds_(setup.kinds),
        answer_after_(std::chrono::milliseconds(std::max<uint32_t>(setup.answer_ms, 1))),
        events_(setup.events),
        clock_(setup.clock ? *setup.clock : mon::BootClock::read()),
        exempt_tgid_(setup.exempt_tgid.value_or(static_cast<uint32_t>(::getpid()))),
        cgroup2_(mon::cgroup2_mount()) {
    wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake_) throw std::runtime_error(std::string("eventfd failed: ") + std::strerror(errno));
    auto empty = std::make_shared<PolicySet>();
    empty->group = std::make_shared<Group>();
    set_ = std::move(empty);
    reader_ = std::thread([this] { read_loop(); });
    decider_ = std::thread([this] { decide_loop(); });
  }

  // The groups close with the last reference: the kernel then allows every
  // event still waiting (docs/lsm.md: fanotify pauses while adamd is down).
  ~FanotifyEnforcer() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    wake();
    reader_.join();
    decider_.join();
  }

  void apply(const std::vector<Policy>& policies) override {
    for (const auto& p : policies)
      if ((p.kind != Kind::exec && p.kind != Kind::file) || !kinds_[static_cast<size_t>(p.kind)])
        throw ApiError(422, "unprocessable",
                       "fanotify enforces exec and file policies, here only of the kinds it was started for",
                       "kind");
    auto next = std::make_shared<PolicySet>();
    next->policies = policies;
    std::set<Target> targets;
    for (const auto& p : policies)
      for (const auto& path : p.resolved.path) targets.insert({path, mask_of(p.kind)});
    next->targets.assign(targets.begin(), targets.end());
    for (const auto& p : policies) {
      next->scoped_by_cgroup = next->scoped_by_cgroup || !p.resolved.cgroup_ids.empty();
      next->scoped_by_parent = next->scoped_by_parent || !p.resolved.parent.empty();
    }
    next->group = std::make_shared<Group>();
    for (const auto& t : next->targets) {
      if (!next->group->cover(t))
        throw ApiError(
            422, "unprocessable",
            "fanotify: marking " + t.path + " needs more than " + std::to_string(kMaxMarks) + " marks",
            "kind");
    }
    {
      std::lock_guard lock(mu_);
      set_ = std::move(next);
    }
    wake();  // the reader retires the old group
  }

  std::map<int64_t, Hits> hits() const override {
    std::lock_guard lock(mu_);
    return hits_;
  }

  void metrics(MetricsWriter& w) const override {
    const auto set = current();
    w.family("adam_lsm_fanotify_marks", "gauge", "inodes the fanotify group marks");
    w.sample("adam_lsm_fanotify_marks", {}, static_cast<double>(set->group->marks()));
    w.family("adam_lsm_fanotify_answered_total", "counter", "permission events answered, by answer");
    const uint64_t denied = denied_.load();  // first: answered_ counts a deny before denied_ does
    const uint64_t answered = answered_.load();
    w.sample("adam_lsm_fanotify_answered_total", {{"answer", "allow"}},
             static_cast<double>(answered - denied));
    w.sample("adam_lsm_fanotify_answered_total", {{"answer", "deny"}}, static_cast<double>(denied));
    w.family("adam_lsm_fanotify_late_total", "counter",
             "permission events answered by the fail mode: not decided within fanotify_answer_ms");
    w.sample("adam_lsm_fanotify_late_total", {}, static_cast<double>(late_.load()));
    w.family("adam_lsm_fanotify_exempt_total", "counter", "permission events of adamd and its descendants");
    w.sample("adam_lsm_fanotify_exempt_total", {}, static_cast<double>(exempt_.load()));
    w.family("adam_lsm_fanotify_answer_seconds_total", "counter",
             "time from reading an event to answering it, summed over the answered events");
    w.sample("adam_lsm_fanotify_answer_seconds_total", {}, static_cast<double>(answer_ns_.load()) / 1e9);
  }

  nlohmann::json stats() const override {
    const auto set = current();
    const uint64_t answered = answered_.load();
    return {{"marks", set->group->marks()},
            {"unmarked", set->group->unmarked()},
            {"answered", answered},
            {"denied", denied_.load()},
            {"late", late_.load()},
            {"exempt", exempt_.load()},
            {"answer_us_avg", answered ? static_cast<double>(answer_ns_.load()) / 1e3 / answered : 0.0},
            {"answer_us_max", static_cast<double>(answer_ns_max_.load()) / 1e3}};
  }

 private:
  std::shared_ptr<const PolicySet> current() const {
    std::lock_guard lock(mu_);
    return set_;
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  }

  // --- the reader thread ---

  void read_loop() {
    std::shared_ptr<Group> group;
    std::vector<std::pair<std::shared_ptr<Group>, SteadyClock::time_point>> retiring;
    std::shared_ptr<const PolicySet> set;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        set = set_;
      }
      if (set->group != group) {
        if (group) {
          // The new group's marks are in place: the old one gets no new event
          // once its marks are gone; what it queued meanwhile is still read.
          ::fanotify_mark(group->fan(), FAN_MARK_FLUSH, 0, AT_FDCWD, nullptr);
          retiring.emplace_back(group, SteadyClock::now() + kRetireGrace);
        }
        group = set->group;
      }
      std::erase_if(retiring, [](const auto& r) { return r.second <= SteadyClock::now(); });

      std::vector<pollfd> fds{
          {wake_.get(), POLLIN, 0}, {group->fan(), POLLIN, 0}, {group->notify(), POLLIN, 0}};
      for (const auto& r : retiring) fds.push_back({r.first->fan(), POLLIN, 0});
      ::poll(fds.data(), fds.size(),
             poll_timeout_ms(retiring.empty() ? std::nullopt : std::optional(retiring.front().second)));
      if (fds[0].revents) {
        uint64_t n;
        [[maybe_unused]] auto r = ::read(wake_.get(), &n, sizeof n);
      }
      if (fds[1].revents) read_events(group, *set);
      if (fds[2].revents) read_structure(*group, set->targets);
      for (size_t i = 3; i < fds.size(); ++i)
        if (fds[i].revents) read_events(retiring[i - 3].first, *set);
      answer_overdue(*set);
    }
  }

  // Until the oldest unanswered event's deadline (or `other`), in ms, rounded up.
  int poll_timeout_ms(std::optional<SteadyClock::time_point> other) {
    std::optional<SteadyClock::time_point> next = other;
    {
      std::lock_guard lock(mu_);
      auto earliest = [&](const std::shared_ptr<Pending>& p) {
        if (p && !p->answered && (!next || p->read_at + answer_after_ < *next))
          next = p->read_at + answer_after_;
      };
      earliest(in_flight_);
      if (!queue_.empty()) earliest(queue_.front());
    }
    if (!next) return -1;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - SteadyClock::now()).count();
    return static_cast<int>(std::max<int64_t>(left, 0));
  }

  // Queues the events some policy names for the decider; the rest (the
  // other files of a marked directory) are allowed here, without a handoff.
  void read_events(const std::shared_ptr<Group>& group, const PolicySet& set) {
    alignas(fanotify_event_metadata) char buf[16384];
    for (;;) {
      ssize_t len = ::read(group->fan(), buf, sizeof buf);
      if (len <= 0) return;  // EAGAIN: drained
      const auto now = SteadyClock::now();
      std::vector<std::shared_ptr<Pending>> read;
      auto* meta = reinterpret_cast<const fanotify_event_metadata*>(buf);
      for (; FAN_EVENT_OK(meta, len); meta = FAN_EVENT_NEXT(meta, len)) {
        if (meta->vers != FANOTIFY_METADATA_VERSION || meta->fd < 0) continue;  // FAN_NOFD: a queue overflow
        auto p = std::make_shared<Pending>();
        p->group = group;
        p->file.reset(meta->fd);
        p->tid = static_cast<uint32_t>(meta->pid);
        p->kind = (meta->mask & FAN_OPEN_EXEC_PERM) ? Kind::exec : Kind::file;
        p->read_at = now;
        p->path = read_link("/proc/self/fd/" + std::to_string(meta->fd));
        if (named(set, p->kind, p->path))
          read.push_back(std::move(p));
        else
          respond(*p, true);
      }
      if (read.empty()) continue;
      {
        std::lock_guard lock(mu_);
        queue_.insert(queue_.end(), read.begin(), read.end());
      }
      cv_.notify_one();
    }
  }

  void read_structure(Group& group, const std::vector<Target>& targets) {
    alignas(inotify_event) char buf[16384];
    for (;;) {
      ssize_t len = ::read(group.notify(), buf, sizeof buf);
      if (len <= 0) return;
      for (char* at = buf; at < buf + len;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(at);
        at += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_Q_OVERFLOW) {
          for (const auto& t : targets) group.cover(t);
          continue;
        }
        if (ev->mask & IN_IGNORED) {
          group.unwatched(ev->wd);
          continue;
        }
        const std::string dir = group.watched(ev->wd);
        if (dir.empty() || ev->len == 0) continue;
        group.appeared((dir == "/" ? "" : dir) + "/" + ev->name, ev->mask & IN_ISDIR, targets);
      }
    }
  }

  // What waited past its deadline is answered now by the fail mode.
  void answer_overdue(const PolicySet& set) {
    const auto deadline = SteadyClock::now() - answer_after_;
    std::vector<std::shared_ptr<Pending>> overdue;
    {
      std::lock_guard lock(mu_);
      while (!queue_.empty() && queue_.front()->read_at <= deadline) {
        queue_.front()->answered = true;
        overdue.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (in_flight_ && !in_flight_->answered && in_flight_->read_at <= deadline) {
        in_flight_->answered = true;
        overdue.push_back(in_flight_);
      }
    }
    for (const auto& p : overdue) answer_late(set, *p);
  }

  // Any policy of the event's kind whose path matches and that fails closed → deny.
  void answer_late(const PolicySet& set, Pending& p) {
    ++late_;
    respond(p, !named(set, p.kind, p.path, true));
  }

  // Counted before the answer is written: whoever the answer wakes sees it counted.
  void respond(Pending& p, bool allow) {
    const auto took = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - p.read_at).count());
    ++answered_;
    if (!allow) ++denied_;
    answer_ns_ += took;
    for (uint64_t max = answer_ns_max_.load();
         took > max && !answer_ns_max_.compare_exchange_weak(max, took);) {
    }
    fanotify_response response{p.file.get(), static_cast<__u32>(allow ? FAN_ALLOW : FAN_DENY)};
    [[maybe_unused]] auto n = ::write(p.group->fan(), &response, sizeof response);
  }

  // --- the decider thread ---

  void decide_loop() {
    for (;;) {
      std::shared_ptr<Pending> p;
      std::shared_ptr<const PolicySet> set;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        p = std::move(queue_.front());
        queue_.pop_front();
        in_flight_ = p;
        set = set_;
      }
      decide(*set, p);
      std::lock_guard lock(mu_);
      in_flight_.reset();
    }
  }

  // Claims the answer (false: the reader answered it late already).
  bool claim(Pending& p) {
    std::lock_guard lock(mu_);
    return !std::exchange(p.answered, true);
  }

  void decide(const PolicySet& set, const std::shared_ptr<Pending>& p) {
    Request req;
    req.kind = p->kind;
    req.path = p->path;
    if (SteadyClock::now() - p->read_at >= answer_after_) {
      if (claim(*p)) answer_late(set, *p);
      return;
    }
    const auto status = read_status(p->tid, proc_);
    if (!status) {  // the thread is gone
      if (claim(*p)) respond(*p, true);
      return;
    }
    if (exempt(status->tgid)) {
      ++exempt_;
      if (claim(*p)) respond(*p, true);
      return;
    }
    const std::string task = proc_ + "/" + std::to_string(p->tid);
    req.uid = status->uid;
    req.comm = read_text(task + "/comm").value_or("");
    if (!req.comm.empty() && req.comm.back() == '\n') req.comm.pop_back();
    if (set.scoped_by_cgroup) req.cgroup_ids = cgroup_ids(task);
    if (set.scoped_by_parent)
      req.parent = read_link(p->kind == Kind::exec ? task + "/exe"
                                                   : proc_ + "/" + std::to_string(status->ppid) + "/exe");
    const OpenIntent intent = p->kind == Kind::file ? read_open_intent(p->tid, proc_) : OpenIntent{};
    req.access = intent.access;
    const Policy* match = first_match(set.policies, req);
    const bool deny = match && match->action == Action::deny;
    // Decided: the answer is ours from here (the deadline bounds the
    // decision; a deny is never turned into the fail mode by the time its
    // description takes).
    std::string caller_exec_id;
    if (events_ && match && !deny && p->kind == Kind::exec) {
      if (auto stat = read_stat(status->tgid, proc_))
        caller_exec_id =
            mon::format_exec_id({clock_.boot, status->tgid, stat->start_ticks, stat->start_stack});
    }
    if (!claim(*p)) return;  // answered late by the reader meanwhile
    if (match) {             // counted before the answer wakes the process
      std::lock_guard lock(mu_);
      auto& hits = hits_[match->id];
      ++(deny ? hits.deny : hits.audit);
    }
    // A denied process has often exited once answered (a shell's child
    // whose exec failed): it is described before the answer. An allowed one
    // after it, so that the answer does not wait for its ancestors, with
    // the exec id an audited exec had before its image was replaced.
    if (events_ && deny) publish(*match, *p, subject_json(status->tgid, clock_, proc_), req, intent);
    respond(*p, !deny);
    if (events_ && match && !deny) {
      nlohmann::json subject = subject_json(status->tgid, clock_, proc_);
      if (!caller_exec_id.empty()) subject["exec_id"] = caller_exec_id;
      publish(*match, *p, std::move(subject), req, intent);
    }
  }

  void publish(const Policy& policy, const Pending& p, nlohmann::json data, const Request& req,
               const OpenIntent& intent) {
    data["tid"] = p.tid;
    data["comm"] = req.comm;  // the thread's, as matched (for exec: the caller's)
    data["policy_id"] = policy.id;
    data["policy"] = policy.name;
    data["kind"] = name_of(policy.kind);
    data["action"] = name_of(policy.action);
    data["mechanism"] = name_of(Mechanism::fanotify);
    data["path"] = req.path;
    if (p.kind == Kind::file) {
      data["access"] = access_name(req.access);
      data["flags"] = intent.flags;
    }
    events_->publish("lsm", policy.action == Action::deny ? "lsm.deny" : "lsm.audit", data.dump());
  }

  // The thread's cgroup v2 and its ancestors, as ids.
  std::vector<uint64_t> cgroup_ids(const std::string& task) const {
    std::vector<uint64_t> ids;
    const auto text = read_text(task + "/cgroup");
    if (!text || cgroup2_.empty()) return ids;
    std::istringstream in(*text);
    std::string path;
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("0::")) path = line.substr(3);
    for (int level = 0; !path.empty() && level < ADAM_LSM_CGROUP_DEPTH; ++level) {
      if (uint64_t id = mon::cgroup_id(cgroup2_, path)) ids.push_back(id);
      if (path == "/") break;
      path = parent_of(path);
    }
    return ids;
  }

  // Whether `tgid` is the exempt process or descends from it: the parent
  // chain through /proc, remembered by (pid, start time) of every process
  // on it (a pid reused later is another process).
  bool exempt(uint32_t tgid) {
    if (exempt_tgid_ == 0) return false;
    std::vector<ProcKey> chain;
    bool result = false;
    for (uint32_t pid = tgid; pid > 1;) {
      if (pid == exempt_tgid_) {
        result = true;
        break;
      }
      const auto stat = read_stat(pid, proc_);
      if (!stat) break;
      const ProcKey key{pid, stat->start_ticks};
      if (auto it = exempt_cache_.find(key); it != exempt_cache_.end()) {
        result = it->second;
        break;
      }
      chain.push_back(key);
      pid = stat->ppid;
    }
    if (exempt_cache_.size() + chain.size() > kExemptCacheMax) exempt_cache_.clear();
    for (const auto& key : chain) exempt_cache_[key] = result;
    return result;
  }

  const std::array<bool, ADAM_LSM_KINDS> kinds_;
  const SteadyClock::duration answer_after_;
  EventHub* const events_;
  const mon::BootClock clock_;
  const uint32_t exempt_tgid_;
  const std::string cgroup2_;
  const std::string proc_ = "/proc";
  UniqueFd wake_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // to the decider: events queued, stop
  std::shared_ptr<const PolicySet> set_;
  std::deque<std::shared_ptr<Pending>> queue_;
  std::shared_ptr<Pending> in_flight_;  // what the decider is deciding
  std::map<int64_t, Hits> hits_;
  bool stopping_ = false;

  std::map<ProcKey, bool> exempt_cache_;  // the decider's alone
  std::atomic<uint64_t> answered_{0}, denied_{0}, late_{0}, exempt_{0}, answer_ns_{0}, answer_ns_max_{0};

  std::thread reader_;
  std::thread decider_;
};

}  // namespace

std::unique_ptr<Enforcer> make_fanotify_enforcer(const FanotifySetup& setup) {
  return std::make_unique<FanotifyEnforcer>(setup);
}

}  // namespace adam::lsm
