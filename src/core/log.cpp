// spdlog setup and the bridge that routes libbpf's messages into it.
#include "core/log.h"

#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

namespace adam {
namespace {

spdlog::level::level_enum parse_level(const std::string& level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  throw std::invalid_argument("unknown log level '" + level + "' (trace|debug|info|warn|error)");
}

spdlog::level::level_enum from_libbpf(libbpf_print_level level) {
  switch (level) {
    case LIBBPF_WARN:
      return spdlog::level::warn;
    case LIBBPF_INFO:
      return spdlog::level::info;
    case LIBBPF_DEBUG:
    default:
      return spdlog::level::debug;
  }
}

int libbpf_to_spdlog(enum libbpf_print_level level, const char* fmt, va_list args) {
  const auto lvl = from_libbpf(level);
  if (!spdlog::should_log(lvl)) return 0;  // libbpf calls us for every level: format only what shows
  const std::string msg = format_libbpf_message(fmt, args);
  if (!msg.empty()) spdlog::log(lvl, "{}", msg);
  return 0;
}

}  // namespace

void init_logging(const std::string& level) {
  const auto lvl = parse_level(level);  // throws before anything changes
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("adam", std::move(sink));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  libbpf_set_print(libbpf_to_spdlog);
}

void set_log_level(const std::string& level) { spdlog::default_logger()->set_level(parse_level(level)); }

std::string format_libbpf_message(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  std::vector<char> buf(512);
  const int n = std::vsnprintf(buf.data(), buf.size(), fmt, args);
  if (n >= static_cast<int>(buf.size())) {
    buf.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(buf.data(), buf.size(), fmt, copy);
  }
  va_end(copy);
  if (n < 0) return {};
  std::string msg(buf.data(), std::min<size_t>(static_cast<size_t>(n), buf.size() - 1));
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  if (msg.empty()) return {};
  // libbpf's own messages already start with "libbpf: "; others (e.g. verifier logs) do not.
  if (msg.rfind("libbpf: ", 0) != 0) msg.insert(0, "libbpf: ");
  return msg;
}

}  // namespace adam
