#include "support/event_flood.h"

#include <bpf/bpf.h>
#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "adam/events.h"
#include "core/bpf_handle.h"
#include "core/bpf_maps.h"
#include "event_flood.skel.h"

namespace adam::test {

namespace {

// Mirrors struct flood_event after its header (tests/bpf/event_flood.bpf.c).
struct FloodPayload {
  uint64_t seq;
  uint32_t cpu;
  uint32_t pad;
};

bool decode_flood(const adam_event_header&, std::span<const std::byte> payload, DecodedRecord& out) {
  if (payload.size() < sizeof(FloodPayload)) return false;
  FloodPayload p;
  std::memcpy(&p, payload.data(), sizeof p);
  out.kind = "flood.tick";
  out.data = fmt::format(R"({{"seq":{},"cpu":{},"src":"198.51.100.7","dst":"203.0.113.9"}})", p.seq, p.cpu);
  return true;
}

}  // namespace

EventFlood::EventFlood(EventHub& hub) {
  skel_ = event_flood_bpf__open_and_load();
  if (!skel_) throw std::runtime_error("loading event_flood: " + libbpf_error(-errno));
  try {
    registration_ = hub.add_ring_buffer(RingBufferSource{"flood", bpf_map__fd(skel_->maps.flood_events),
                                                         bpf_map__fd(skel_->maps.flood_lost), decode_flood});
  } catch (...) {
    event_flood_bpf__destroy(skel_);
    throw;
  }
}

EventFlood::~EventFlood() {
  registration_.reset();
  event_flood_bpf__destroy(skel_);
}

void EventFlood::fire(uint32_t runs) {
  unsigned char packet[64] = {};  // XDP needs at least an Ethernet header's worth
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof packet,
              .repeat = static_cast<int>(runs));
  const int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.event_flood), &opts);
  if (err) throw std::runtime_error("BPF_PROG_TEST_RUN of event_flood: " + libbpf_error(err));
}

int64_t EventFlood::produced() const {
  return static_cast<int64_t>(
      sum_per_cpu<uint64_t>(BpfMapAccess{}, bpf_map__fd(skel_->maps.flood_produced), 0));
}

int64_t EventFlood::kernel_lost() const {
  return static_cast<int64_t>(
      sum_per_cpu<uint64_t>(BpfMapAccess{}, bpf_map__fd(skel_->maps.flood_lost), ADAM_EVENT_LOST_RESERVE));
}

}  // namespace adam::test
