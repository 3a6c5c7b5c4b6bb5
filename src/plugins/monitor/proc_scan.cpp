#include "plugins/monitor/proc_scan.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace adam::mon {
namespace {

// The first `max` bytes of a file (and whether it held more), nullopt when
// it cannot be opened (the process is gone).
std::optional<std::string> read_file(const std::string& path, size_t max, bool* truncated = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text(max + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return std::nullopt;
  if (truncated) *truncated = text.size() > max;
  if (text.size() > max) text.resize(max);
  return text;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

struct Stat {
  char state = 0;
  uint32_t num_threads = 0;
  uint32_t ppid = 0;
  uint64_t start_ticks = 0;
  uint64_t start_stack = 0;
};

// /proc/PID/stat: the comm in parentheses may hold spaces and ')', so the
// fields are counted from the last ')' (field 3 follows it).
std::optional<Stat> parse_stat(const std::string& text) {
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(text.substr(close + 1));
  std::vector<std::string> fields;  // fields[0] is field 3
  for (std::string f; in >> f && fields.size() < 26;) fields.push_back(f);
  Stat s;
  if (fields.size() < 26 || fields[0].size() != 1 || !parse_number(fields[4 - 3], s.ppid) ||
      !parse_number(fields[20 - 3], s.num_threads) || !parse_number(fields[22 - 3], s.start_ticks) ||
      !parse_number(fields[28 - 3], s.start_stack))
    return std::nullopt;
  s.state = fields[0][0];
  return s;
}

// "Uid:\t0\t0\t0\t0": the real id, what the BPF programs' current_uid_gid() is.
uint32_t status_id(const std::string& status, const std::string& key) {
  const size_t at = status.find("\n" + key + ":");
  if (at == std::string::npos) return 0;
  std::istringstream in(status.substr(at + key.size() + 2));
  uint32_t id = 0;
  in >> id;
  return id;
}

// The v2 path of /proc/PID/cgroup ("0::/system.slice/x.service").
std::string cgroup_path(const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return {};
}

std::vector<std::string> split_args(const std::string& bytes) {
  std::vector<std::string> args;
  size_t from = 0;
  while (from < bytes.size()) {
    size_t end = bytes.find('\0', from);
    if (end == std::string::npos) end = bytes.size();
    args.push_back(bytes.substr(from, end - from));
    from = end + 1;
  }
  return args;
}

}  // namespace

std::string cgroup2_mount() {
  std::ifstream in("/proc/mounts");
  for (std::string device, dir, type, rest; in >> device >> dir >> type && std::getline(in, rest);)
    if (type == "cgroup2") return dir;
  return {};
}

uint64_t cgroup_id(const std::string& mount, const std::string& path) {
  struct stat st {};
  if (mount.empty() || ::stat((mount + path).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  return st.st_ino;
}

namespace {

// One process of `proc_root`, nullopt when it is gone or unreadable, or a
// zombie (exited, not reaped yet) unless `with_zombies`; a zombie leader
// with threads left (it called pthread_exit) still runs. Its
// parent_exec_id and entry.parent are left to the caller. cgroup_id_of
// turns a cgroup path into its id.
template <typename CgroupIdOf>
std::optional<ScannedProcess> read_process(const std::string& proc_root, uint32_t pid, const BootClock& clock,
                                           size_t args_max, bool with_zombies, CgroupIdOf&& cgroup_id_of) {
  const std::string base = proc_root + "/" + std::to_string(pid) + "/";
  bool args_truncated = false;
  auto stat_text = read_file(base + "stat", 4096);
  auto status = read_file(base + "status", 1 << 16);
  auto comm = read_file(base + "comm", 64);
  auto cmdline = read_file(base + "cmdline", args_max, &args_truncated);
  auto cgroup = read_file(base + "cgroup", 4096);
  if (!stat_text || !status || !comm || !cmdline || !cgroup) return std::nullopt;  // exited meanwhile
  auto stat = parse_stat(*stat_text);
  if (!stat) return std::nullopt;
  if (!with_zombies && (stat->state == 'Z' || stat->state == 'X') && stat->num_threads <= 1)
    return std::nullopt;

  ScannedProcess s;
  Process& p = s.process;
  p.pid = pid;
  p.ppid = stat->ppid;
  p.uid = status_id("\n" + *status, "Uid");
  p.gid = status_id("\n" + *status, "Gid");
  p.comm = comm->substr(0, comm->find('\n'));
  p.args = split_args(*cmdline);
  p.args_truncated = args_truncated;
  char exe[4096];
  const ssize_t n = ::readlink((base + "exe").c_str(), exe, sizeof exe);
  if (n > 0) p.filename.assign(exe, static_cast<size_t>(n));
  p.cgroup_id = cgroup_id_of(cgroup_path(*cgroup));
  p.started = clock.wall_of_ticks(stat->start_ticks);
  p.seeded = true;
  p.exec_id = format_exec_id({clock.boot, pid, stat->start_ticks, stat->start_stack});
  // The kernel's start time in ns, as precise as /proc gives it: the
  // programs turn it back into the same ticks.
  s.entry.self = {.tgid = pid,
                  .pad = 0,
                  .start_ns = stat->start_ticks * (1'000'000'000 / clock.ticks_per_second),
                  .tag = stat->start_stack};
  return s;
}

}  // namespace

std::optional<ScannedProcess> scan_process(uint32_t pid, const BootClock& clock, size_t args_max,
                                           const std::string& proc_root) {
  const std::string mount = cgroup2_mount();
  auto id_of = [&](const std::string& path) { return cgroup_id(mount, path); };
  auto s = read_process(proc_root, pid, clock, args_max, true, id_of);
  if (!s || s->process.ppid == 0) return s;
  if (auto parent =
          read_process(proc_root, s->process.ppid, clock, 0, true, [](const std::string&) { return 0; })) {
    s->process.parent_exec_id = parent->process.exec_id;
    s->entry.parent = parent->entry.self;
  }
  return s;
}

std::vector<ScannedProcess> scan_processes(const BootClock& clock, size_t args_max, const KernelView& kernel,
                                           const std::string& proc_root) {
  std::map<uint32_t, ScannedProcess> found;
  std::set<uint32_t> from_kernel;  // pids whose identity and parent are the kernel's
  const std::string mount = cgroup2_mount();
  std::map<std::string, uint64_t> cgroup_ids;  // one stat per cgroup
  auto id_of = [&](const std::string& path) {
    auto [cached, fresh] = cgroup_ids.try_emplace(path, 0);
    if (fresh) cached->second = cgroup_id(mount, path);
    return cached->second;
  };
  DIR* dir = ::opendir(proc_root.c_str());
  if (!dir) return {};
  while (dirent* de = ::readdir(dir)) {
    uint32_t pid = 0;
    if (!parse_number(std::string_view(de->d_name), pid) || pid == 0) continue;
    // A zombie has exited, before the programs were attached or while this
    // read ran: seeded as live, no exit event would ever end it.
    auto s = read_process(proc_root, pid, clock, args_max, false, id_of);
    if (!s) continue;
    Process& p = s->process;
    if (auto known = kernel ? kernel(pid) : std::nullopt;
        known && clock.ticks_of(known->self.start_ns) == clock.ticks_of(s->entry.self.start_ns)) {
      s->entry = *known;
      p.exec_id = clock.exec_id(pid, known->self.start_ns, known->self.tag);
      if (known->parent.tgid != 0)
        p.parent_exec_id = clock.exec_id(known->parent.tgid, known->parent.start_ns, known->parent.tag);
      from_kernel.insert(pid);
    }
    found.emplace(pid, std::move(*s));
  }
  ::closedir(dir);

  for (auto& [pid, s] : found) {
    if (from_kernel.count(pid)) continue;
    if (auto parent = found.find(s.process.ppid); parent != found.end()) {
      s.process.parent_exec_id = parent->second.process.exec_id;
      s.entry.parent = parent->second.entry.self;
    }
  }
  std::vector<ScannedProcess> out;
  out.reserve(found.size());
  for (auto& [pid, s] : found) out.push_back(std::move(s));
  return out;
}

}  // namespace adam::mon
