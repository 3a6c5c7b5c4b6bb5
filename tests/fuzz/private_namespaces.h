#pragma once
// For the packet-path targets: a network namespace of the process's own (lo
// is its only interface, nothing of the host's is touched) and a mount
// namespace with a fresh bpffs at /sys/fs/bpf, so every pin dies with the
// process however it ends (libFuzzer's exit on a crash runs no destructor).
#include <sched.h>
#include <sys/mount.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace adam::fuzz {

inline void enter_private_namespaces(const char* target) {
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    std::perror((std::string(target) + ": unshare (needs root)").c_str());
    std::exit(1);
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0) {
    std::perror((std::string(target) + ": a private bpffs").c_str());
    std::exit(1);
  }
}

}  // namespace adam::fuzz
