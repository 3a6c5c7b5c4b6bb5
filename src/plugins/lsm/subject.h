#pragma once
// The process an lsm event is about, as the event's data shows it
// (docs/lsm.md "Events"): pid, tid, ppid, uid, gid, comm, exec_id,
// parent_exec_id (the monitor's exec ids, plugins/monitor/process.h) and
// the ancestors up to pid 1, read from /proc when the event is decoded.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "adam/lsm.h"
#include "plugins/monitor/process.h"

namespace adam::lsm {

// From a BPF record's subject (the kernel's identity) and /proc for the
// ancestors.
nlohmann::json subject_json(const adam_proc_ctx& proc, const mon::BootClock& clock,
                            const std::string& proc_root = "/proc");
// From /proc alone (fanotify's events carry only a pid); {"pid": pid} and
// what could be read when the process is gone.
nlohmann::json subject_json(uint32_t pid, const mon::BootClock& clock,
                            const std::string& proc_root = "/proc");

}  // namespace adam::lsm
