#include "plugins/monitor/process.h"

#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>

namespace adam::mon {

namespace {

template <typename T>
bool parse_number(std::string_view text, T& out, int base = 10) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

TimeNs clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<TimeNs>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::string format_exec_id(const ExecIdParts& p) {
  return fmt::format("{}-{}-{}-{:x}", p.boot, p.tgid, p.start_ticks, p.tag);
}

std::optional<ExecIdParts> parse_exec_id(std::string_view text) {
  ExecIdParts p;
  size_t dashes[3];
  size_t from = 0;
  for (size_t& d : dashes) {
    d = text.find('-', from);
    if (d == std::string_view::npos) return std::nullopt;
    from = d + 1;
  }
  p.boot = std::string(text.substr(0, dashes[0]));
  if (p.boot.size() != 8 || p.boot.find_first_not_of("0123456789abcdef") != std::string::npos)
    return std::nullopt;
  if (!parse_number(text.substr(dashes[0] + 1, dashes[1] - dashes[0] - 1), p.tgid) ||
      !parse_number(text.substr(dashes[1] + 1, dashes[2] - dashes[1] - 1), p.start_ticks) ||
      !parse_number(text.substr(dashes[2] + 1), p.tag, 16))
    return std::nullopt;
  if (format_exec_id(p) != text) return std::nullopt;  // one spelling per id (no leading zeros, '+')
  return p;
}

BootClock BootClock::read() {
  BootClock c;
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  std::string hex;
  for (char ch : id)
    if (std::isxdigit(static_cast<unsigned char>(ch)) && hex.size() < 8)
      hex += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  c.boot = hex.size() == 8 ? hex : "00000000";
  c.boot_wall_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
  const long tck = sysconf(_SC_CLK_TCK);
  if (tck > 0 && 1'000'000'000 % tck == 0) c.ticks_per_second = tck;
  return c;
}

std::optional<TimeNs> BootClock::started(std::string_view exec_id) const {
  auto parts = parse_exec_id(exec_id);
  if (!parts || parts->boot != boot) return std::nullopt;
  return wall_of_ticks(parts->start_ticks);
}

nlohmann::json to_json(const Process& p) {
  auto optional = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"exec_id", p.exec_id},
          {"parent_exec_id", p.parent_exec_id},
          {"pid", p.pid},
          {"ppid", p.ppid},
          {"uid", p.uid},
          {"gid", p.gid},
          {"comm", p.comm},
          {"filename", p.filename},
          {"args", p.args},
          {"args_truncated", p.args_truncated},
          {"cgroup_id", p.cgroup_id},
          {"started", p.started},
          {"exited", optional(p.exited)},
          {"exit_code", optional(p.exit_code)},
          {"signal", optional(p.signal)},
          {"seeded", p.seeded}};
}

Process process_from_event(std::string_view kind, const nlohmann::json& data, TimeNs ts) {
  Process p;
  p.exec_id = data.at("exec_id").get<std::string>();
  p.parent_exec_id = data.value("parent_exec_id", "");
  p.pid = data.at("pid").get<uint32_t>();
  p.ppid = data.value("ppid", 0u);
  p.uid = data.value("uid", 0u);
  p.gid = data.value("gid", 0u);
  p.comm = data.value("comm", "");
  p.filename = data.value("filename", "");
  if (auto args = data.find("args"); args != data.end() && args->is_array())
    p.args = args->get<std::vector<std::string>>();
  p.args_truncated = data.value("args_truncated", false);
  p.cgroup_id = data.value("cgroup_id", uint64_t{0});
  p.started = data.value("started", ts);
  p.seeded = kind == "process.seen";
  if (kind == "process.exit") {
    p.exited = ts;
    if (auto code = data.find("exit_code"); code != data.end() && code->is_number())
      p.exit_code = code->get<int>();
    if (auto sig = data.find("signal"); sig != data.end() && sig->is_number()) p.signal = sig->get<int>();
  }
  return p;
}

}  // namespace adam::mon
