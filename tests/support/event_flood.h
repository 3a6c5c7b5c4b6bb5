#pragma once
// The event pipeline's test producer (tests/bpf/event_flood.bpf.c) in the
// kernel, registered with an EventHub as plugin "flood": fire(n) runs the BPF
// program n times through BPF_PROG_TEST_RUN, each run emitting one
// "flood.tick" event through the shared ring buffer header. Needs root.
#include <cstdint>
#include <memory>

#include "core/event_hub.h"

struct event_flood_bpf;

namespace adam::test {

class EventFlood {
 public:
  // Throws std::runtime_error when the program cannot be loaded.
  explicit EventFlood(EventHub& hub);
  ~EventFlood();  // unregisters from the hub (draining the ring buffer) first
  EventFlood(const EventFlood&) = delete;
  EventFlood& operator=(const EventFlood&) = delete;

  void fire(uint32_t runs);
  int64_t produced() const;     // runs so far (the kernel's own count)
  int64_t kernel_lost() const;  // reserve failures so far

 private:
  event_flood_bpf* skel_ = nullptr;
  std::unique_ptr<EventHub::Registration> registration_;
};

}  // namespace adam::test
