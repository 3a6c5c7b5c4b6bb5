#pragma once
// The fanotify back end's view of the operation it answers (docs/lsm.md
// "fanotify"): a permission event names the file and the thread, not how
// the thread opened it, so the access is read from the thread's system
// call while it waits for the answer. make_fanotify_enforcer() is in
// enforcer.h.
#include <cstdint>
#include <string>

namespace adam::lsm {

// ADAM_LSM_ACCESS_* of an open with `flags` (docs/lsm.md "match.access"):
// read for O_RDONLY and O_RDWR, write for O_WRONLY, O_RDWR, O_TRUNC,
// O_APPEND and O_CREAT.
uint8_t access_of_open_flags(uint32_t flags);

struct OpenIntent {
  uint8_t access = 0;  // ADAM_LSM_ACCESS_*
  uint32_t flags = 0;  // the open's flags (0 for an exec's open of its image)
  bool known = false;  // false: not an open system call (io_uring, a gone thread): both accesses
};
// What thread `tid`, blocked in the open that fanotify reports, asked for:
// from /proc/TID/syscall (open, openat, creat, open_by_handle_at; execve and
// execveat open for reading) and, for openat2, its struct open_how through
// /proc/TID/mem.
OpenIntent read_open_intent(uint32_t tid, const std::string& proc_root = "/proc");

}  // namespace adam::lsm
