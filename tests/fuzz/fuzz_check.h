#pragma once
// What a fuzz target asserts beyond "no crash": a property that must hold
// for every input. A violation prints what was expected and aborts, which
// libFuzzer reports as a crash and keeps the input (crash-<sha1>).
#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, what)                                                                  \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                  \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)
