#include "plugins/lsm/subject.h"

#include <cstring>

#include "plugins/monitor/proc_scan.h"

namespace adam::lsm {
namespace {

constexpr size_t kMaxAncestors = 32;

// The chain from `pid` up to pid 1, as /proc shows it now.
nlohmann::json ancestors_from(uint32_t pid, const mon::BootClock& clock, const std::string& proc_root) {
  nlohmann::json ancestors = nlohmann::json::array();
  while (pid != 0 && ancestors.size() < kMaxAncestors) {
    auto s = mon::scan_process(pid, clock, 0, proc_root);
    if (!s) break;
    ancestors.push_back({{"pid", pid},
                         {"exec_id", s->process.exec_id},
                         {"comm", s->process.comm},
                         {"filename", s->process.filename}});
    if (pid == 1) break;
    pid = s->process.ppid;
  }
  return ancestors;
}

}  // namespace

nlohmann::json subject_json(const adam_proc_ctx& proc, const mon::BootClock& clock,
                            const std::string& proc_root) {
  nlohmann::json j = {
      {"pid", proc.self.tgid},
      {"tid", proc.tid},
      {"ppid", proc.ppid},
      {"uid", proc.uid},
      {"gid", proc.gid},
      {"comm", std::string(proc.comm, strnlen(proc.comm, sizeof proc.comm))},
      {"cgroup_id", proc.cgroup_id},
      {"exec_id", clock.exec_id(proc.self.tgid, proc.self.start_ns, proc.self.tag)},
      {"parent_exec_id", proc.parent.tgid
                             ? clock.exec_id(proc.parent.tgid, proc.parent.start_ns, proc.parent.tag)
                             : std::string()},
  };
  j["ancestors"] = ancestors_from(proc.ppid, clock, proc_root);
  return j;
}

nlohmann::json subject_json(uint32_t pid, const mon::BootClock& clock, const std::string& proc_root) {
  nlohmann::json j = {{"pid", pid}, {"tid", pid}};
  auto s = mon::scan_process(pid, clock, 0, proc_root);
  if (!s) return j;
  const mon::Process& p = s->process;
  j.update({{"ppid", p.ppid},
            {"uid", p.uid},
            {"gid", p.gid},
            {"comm", p.comm},
            {"cgroup_id", p.cgroup_id},
            {"exec_id", p.exec_id},
            {"parent_exec_id", p.parent_exec_id},
            {"ancestors", ancestors_from(p.ppid, clock, proc_root)}});
  return j;
}

}  // namespace adam::lsm
