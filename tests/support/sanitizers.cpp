#include "support/sanitizers.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string_view>

namespace adam::test {

double time_scale() {
  static const double scale = [] {
    const char* env = std::getenv("ADAM_TEST_TIME_SCALE");
    const double v = env ? std::strtod(env, nullptr) : 1.0;
    return v >= 1.0 ? v : 1.0;
  }();
  return scale;
}

std::string sanitizer_report(const std::string& output) {
  // How each runtime starts a report (compiler-rt's Report() lines).
  static constexpr std::array<std::string_view, 5> kStarts = {
      "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
      "ThreadSanitizer: ", ": runtime error: "};
  size_t first = std::string::npos;
  for (const auto start : kStarts) first = std::min(first, output.find(start));
  if (first == std::string::npos) return {};
  // From the start of the report's line.
  const size_t line = output.rfind('\n', first);
  return output.substr(line == std::string::npos ? 0 : line + 1);
}

}  // namespace adam::test
