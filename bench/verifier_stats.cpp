// verifier_stats: how much of the verifier's budget each program of a BPF
// object uses on this kernel. Loads the object (maps created, nothing
// attached) with verifier log level 4 and prints one JSON line per program:
// the instructions the verifier walked against its limit of 1,000,000
// (BPF_COMPLEXITY_LIMIT_INSNS), and its states. The count differs between
// kernels (Debian 12's 6.1 walked 1.9x what 6.18 did for the firewall), so
// a program near the limit here is refused elsewhere: run it in the VM too
// (tests/vm/run-in-vm.sh build/bench/verifier_stats OBJECT...).
//
//   build/bench/verifier_stats [OBJECT.bpf.o...]   (default: build/bpf/firewall.bpf.o, lb.bpf.o)
#include <bpf/libbpf.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

constexpr long kVerifierLimit = 1'000'000;

// The value after `key` in the verifier's statistics line ("processed N
// insns (limit 1000000) max_states_per_insn N total_states N peak_states N"),
// or -1 when the log has none (the program was refused before its end).
long stat_after(const std::string& log, const std::string& key) {
  const auto at = log.rfind(key + " ");
  if (at == std::string::npos) return -1;
  return std::strtol(log.c_str() + at + key.size() + 1, nullptr, 10);
}

int report(const std::string& path, const std::string& kernel) {
  bpf_object* object = bpf_object__open_file(path.c_str(), nullptr);
  if (object == nullptr) {
    std::fprintf(stderr, "verifier_stats: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  std::vector<std::string> logs;
  logs.reserve(64);
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, object) {
    // Level 4 writes only the statistics; 64 KiB holds them and a refusal's tail.
    logs.emplace_back(64 * 1024, '\0');
    bpf_program__set_log_level(program, 4);
    bpf_program__set_log_buf(program, logs.back().data(), logs.back().size());
  }
  const int err = bpf_object__load(object);
  size_t index = 0;
  bpf_object__for_each_program(program, object) {
    const std::string log(logs[index++].c_str());
    const long processed = stat_after(log, "processed");
    nlohmann::json line = {
        {"kernel", kernel},
        {"object", path},
        {"program", bpf_program__name(program)},
        {"loaded", err == 0},
        {"insns_processed", processed},
        {"limit", kVerifierLimit},
        {"share_of_limit", processed < 0 ? nlohmann::json(nullptr)
                                         : nlohmann::json(static_cast<double>(processed) / kVerifierLimit)},
        {"total_states", stat_after(log, "total_states")},
        {"peak_states", stat_after(log, "peak_states")},
    };
    std::printf("%s\n", line.dump().c_str());
  }
  bpf_object__close(object);
  return err == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> objects(argv + 1, argv + argc);
  if (objects.empty()) objects = {ADAM_BUILD_DIR "/bpf/firewall.bpf.o", ADAM_BUILD_DIR "/bpf/lb.bpf.o"};
  utsname uts{};
  uname(&uts);
  libbpf_set_print([](libbpf_print_level, const char*, va_list) { return 0; });
  int status = 0;
  for (const auto& object : objects) status |= report(object, uts.release);
  return status;
}
