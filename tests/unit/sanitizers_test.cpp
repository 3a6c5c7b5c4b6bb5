// The sanitized builds' plumbing (docs/testing.md, "Sanitizers"): a report
// from a child process reaches its output, and sanitizer_report() (what
// tests/support/adamd.cpp fails a test with) finds it there. In a plain build
// the report detection runs on recorded text only.
#include "support/sanitizers.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if __has_feature(address_sanitizer) || defined(__SANITIZE_ADDRESS__)
#define ADAM_TEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer) || defined(__SANITIZE_THREAD__)
#define ADAM_TEST_TSAN 1
#endif

namespace adam::test {
namespace {

// Runs `body` in a child with stderr captured; its output and exit status.
struct ChildResult {
  std::string output;
  int status = 0;
};
template <class Body>
ChildResult run_child(Body body) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    body();
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) r.output.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ::waitpid(pid, &r.status, 0);
  return r;
}

TEST(SanitizerReport, FindsEachRuntimesReportAndNothingElse) {
  EXPECT_EQ(sanitizer_report("[info] adamd listening\n[info] stopped\n"), "");
  EXPECT_EQ(sanitizer_report("a\n==7==ERROR: AddressSanitizer: heap-use-after-free\n#0 x\n"),
            "==7==ERROR: AddressSanitizer: heap-use-after-free\n#0 x\n");
  EXPECT_NE(sanitizer_report("==7==ERROR: LeakSanitizer: detected memory leaks\n"), "");
  EXPECT_NE(sanitizer_report("src/x.cpp:3:5: runtime error: signed integer overflow\n"), "");
  EXPECT_NE(sanitizer_report("==================\nWARNING: ThreadSanitizer: data race (pid=9)\n"), "");
}

TEST(SanitizerReport, ScaledStretchesByTheTimeScale) {
  EXPECT_GE(time_scale(), 1.0);
  EXPECT_EQ(scaled(std::chrono::seconds(2)).count(), static_cast<long long>(2000 * time_scale()));
}

#if defined(ADAM_TEST_ASAN)
int* volatile freed_pointer;
TEST(SanitizedBuild, AUseAfterFreeEndsTheProcessWithAReport) {
  const ChildResult r = run_child([] {
    freed_pointer = new int(1);
    delete freed_pointer;
    std::exit(*freed_pointer);
  });
  EXPECT_TRUE(WIFSIGNALED(r.status) || WEXITSTATUS(r.status) != 0) << r.output;
  EXPECT_NE(sanitizer_report(r.output).find("heap-use-after-free"), std::string::npos) << r.output;
}
void* volatile leaked_pointer;
TEST(SanitizedBuild, ALeakAtExitIsAReport) {
  const ChildResult r = run_child([] {
    // Allocated on a thread that is gone by the exit, so no stack slot of a
    // live thread still holds the pointer.
    std::thread([] {
      leaked_pointer = std::malloc(64);
      leaked_pointer = nullptr;
    }).join();
    std::exit(0);
  });
  EXPECT_NE(WEXITSTATUS(r.status), 0) << r.output;
  EXPECT_NE(sanitizer_report(r.output).find("LeakSanitizer"), std::string::npos) << r.output;
}
#elif defined(ADAM_TEST_TSAN)
int racy_counter;
TEST(SanitizedBuild, ADataRaceIsAReport) {
  const ChildResult r = run_child([] {
    std::thread other([] { racy_counter++; });
    racy_counter++;
    other.join();
    std::exit(0);
  });
  EXPECT_NE(WEXITSTATUS(r.status), 0) << r.output;
  EXPECT_NE(sanitizer_report(r.output).find("data race"), std::string::npos) << r.output;
}
#else
TEST(SanitizedBuild, NotThisBuild) { GTEST_SKIP() << "a plain build: make test SANITIZE=... runs these"; }
#endif

}  // namespace
}  // namespace adam::test
