#pragma once
// What the tests need to know of a sanitized build (make test SANITIZE=...):
// how much slower it runs, and whether a process's output holds a report.
#include <chrono>
#include <string>

namespace adam::test {

// How many times longer than a plain build a timing-sensitive wait may
// take: ADAM_TEST_TIME_SCALE, which CTest sets in a sanitized build
// (tests/CMakeLists.txt); 1 when unset.
double time_scale();

// `d` stretched by time_scale(): the one way a test waits longer under sanitizers.
template <class Rep, class Period>
std::chrono::milliseconds scaled(std::chrono::duration<Rep, Period> d) {
  return std::chrono::milliseconds(
      static_cast<long long>(std::chrono::duration<double, std::milli>(d).count() * time_scale()));
}

// The first sanitizer report (AddressSanitizer, LeakSanitizer,
// UndefinedBehaviorSanitizer, ThreadSanitizer) in a process's output and
// everything after it; empty when there is none.
std::string sanitizer_report(const std::string& output);

}  // namespace adam::test
