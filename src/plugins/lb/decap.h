#pragma once
// ADAM's own decapsulation on a backend (bpf/lb_decap.bpf.c at tc ingress,
// through pinned tcx links): IPIP, IP6IP6, 4in6 and 6in4 packets addressed to
// one of the interface's own addresses lose their outer header and go on
// into the stack as the inner packet, so a backend needs no tunnel module
// (config `decap: true`). See docs/lb.md "Decapsulation".
#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "adam/lb.h"

namespace adam::lb {

class Decap {
 public:
  // Loads the program; adopts the links pinned under `pin_dir` (created
  // when missing). Throws std::runtime_error.
  explicit Decap(const std::string& pin_dir);
  ~Decap();  // leaves the pinned links in place
  Decap(const Decap&) = delete;
  Decap& operator=(const Decap&) = delete;

  // Decapsulates on exactly these interfaces (adamd's netns), for their
  // current addresses. Throws ApiError 400 naming `field` ("decap_interfaces[1]")
  // for a missing interface, std::runtime_error when an attach fails.
  void set_interfaces(const std::set<std::string>& ifnames, const std::string& field);
  std::set<std::string> interfaces() const;
  std::array<uint64_t, ADAM_LB_DECAP_TOTALS> totals() const;
  // The program, for BPF_PROG_TEST_RUN in tests.
  int prog_fd() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Detaches and removes every pin a Decap left in `pin_dir`.
void remove_decap_pins(const std::string& pin_dir);

}  // namespace adam::lb
