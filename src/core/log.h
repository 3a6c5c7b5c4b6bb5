#pragma once
#include <cstdarg>
#include <string>

namespace adam {

// Sets up spdlog's default logger at `level` (trace|debug|info|warn|error) and
// routes libbpf's own messages into it. Throws std::invalid_argument on an
// unknown level.
void init_logging(const std::string& level);
// Changes the level of the logger init_logging() set up (SIGHUP's reload);
// throws std::invalid_argument on an unknown level, changing nothing.
void set_log_level(const std::string& level);

// One libbpf print callback message as a line: formatted, trailing newline
// trimmed, prefixed "libbpf: ". Empty when there is nothing to say.
std::string format_libbpf_message(const char* fmt, va_list args);

}  // namespace adam
