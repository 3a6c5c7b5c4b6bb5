#pragma once
#include <string>

namespace adam {

// Sets up spdlog's default logger at `level` (trace|debug|info|warn|error) and
// routes libbpf's own messages into it. Throws std::invalid_argument on an
// unknown level.
void init_logging(const std::string& level);

}  // namespace adam
