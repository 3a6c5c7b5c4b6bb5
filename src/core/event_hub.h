#pragma once
// The event pipeline (docs/events.md):
//
//   BPF ring buffers ──► consumer thread (one epoll, libbpf ring_buffer) ─┐
//   C++ producers (API audit, …) ── publish() ────────────────────────────┤
//                                                                          ▼
//                             bounded queue ──► writer thread ──► EventStore (batched transactions)
//                                                     └──► subscribers (SSE streams), after commit
//
// Nothing upstream of the queue ever waits for SQLite: a full queue drops the
// event and counts it. Every loss is counted by plugin and reason.
#include <bpf/libbpf.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/time_range.h"
#include "store/event_store.h"

struct adam_event_header;

namespace adam {

// Why an event was lost. `kernel`: the BPF program could not reserve ring
// buffer space (adamd was behind); `queue`: the queue to the writer was full;
// `write`: SQLite refused the batch; `decode`: a malformed ring buffer record;
// `rate_limit`: the BPF program's own rate limit refused it (e.g. the
// firewall's log_rate). The first and the last are counted in the kernel
// (bpf/adam/events.h lost counter slots), the others by adamd.
enum class LossReason { kernel, queue, write, decode, rate_limit };
inline constexpr LossReason kLossReasons[] = {LossReason::kernel, LossReason::queue, LossReason::write,
                                              LossReason::decode, LossReason::rate_limit};
std::string to_string(LossReason reason);

// What a plugin's decoder makes of one ring buffer record.
struct DecodedRecord {
  std::string_view kind;  // e.g. "firewall.drop"; must outlive the decoder call (a literal)
  std::string data;       // JSON object text
};
// Decodes the record after its header (`payload`); false: malformed (counted
// as a `decode` loss).
using RecordDecoder = std::function<bool(const adam_event_header& header, std::span<const std::byte> payload,
                                         DecodedRecord& out)>;

struct RingBufferSource {
  std::string plugin;
  int ring_buffer_fd = -1;   // BPF_MAP_TYPE_RINGBUF
  int lost_counter_fd = -1;  // per-CPU array, one slot per ADAM_EVENT_LOST_* (bpf/adam/events.h); -1: none
  RecordDecoder decode;
};

struct EventHubOptions {
  size_t queue_capacity = 1 << 18;  // events waiting for the writer
  size_t max_batch = 1 << 16;       // events per transaction
  // A batch is committed at the latest this long after its first event: a
  // kill -9 loses at most that window (plus the batch being written).
  std::chrono::milliseconds batch_window{200};
  std::optional<Span> retention = Span{30, SpanUnit::day};  // nullopt: keep forever
  int64_t max_events = 50'000'000;                          // 0: no limit
  int64_t retention_batch = 10'000;                         // rows per delete transaction
};

// Loss and storage counters of one plugin.
struct EventCounters {
  int64_t stored = 0;
  std::map<LossReason, int64_t> lost;
};

// A live view on new events (SSE). The writer hands each committed event that
// matches to every subscription without waiting: a subscription whose backlog
// is full is closed (`dropped`) rather than slowing the pipeline.
class EventSubscription {
 public:
  EventSubscription(EventFilter filter, size_t capacity) : filter_(std::move(filter)), capacity_(capacity) {}
  // Waits up to `timeout` for events; returns what is pending (maybe none).
  std::vector<Event> wait(std::chrono::milliseconds timeout);
  bool dropped() const { return dropped_.load(); }

 private:
  friend class EventHub;
  void offer(const Event& e);

  EventFilter filter_;  // plugins and kinds (by name: kinds may appear later), data equalities
  size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> pending_;
  std::atomic<bool> dropped_{false};
};

class EventHub {
 public:
  EventHub(EventStore& store, EventHubOptions options = {});
  // Drains the ring buffers and the queue into the store, then stops.
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // --- producers ---
  // A plugin's ring buffer joins the consumer loop until the returned handle
  // is destroyed (before the plugin closes the maps: the handle's destructor
  // drains the ring buffer and reads the lost counter a last time). Throws
  // std::runtime_error when libbpf refuses the map.
  class Registration;
  std::unique_ptr<Registration> add_ring_buffer(RingBufferSource source);
  // New retention limits (SIGHUP's reload), applied from the writer's next
  // retention round.
  void set_retention(std::optional<Span> retention, int64_t max_events);
  // An event from C++ (never blocks; a full queue counts a `queue` loss).
  void publish(std::string_view plugin, std::string_view kind, std::string data, TimeNs ts = now_ns());

  // --- consumers ---
  std::shared_ptr<EventSubscription> subscribe(const EventFilter& filter, size_t capacity = 4096);
  EventStore& store() { return store_; }

  // --- observability ---
  // Per plugin, the kernel's lost counters included.
  std::map<std::string, EventCounters> counters();
  size_t queue_depth();
  size_t queue_capacity() const { return options_.queue_capacity; }
  // Waits until every event already queued (published, or read from a ring
  // buffer) is handled: stored, or counted lost. For tests and benchmarks.
  void flush();

 private:
  struct Source;
  struct Queued {
    NewEvent event;
    const std::string* plugin;  // interned (plugin_names_): no string copy per event
  };
  const std::string* intern_plugin(std::string_view plugin);
  void consume_loop();
  void rebuild_ring_buffers(std::vector<std::shared_ptr<Source>>& active);
  void remove_source(uint64_t id);
  static int on_record(void* ctx, void* data, size_t size);
  void enqueue(KindId kind, TimeNs ts, std::string data, const std::string* plugin);
  void count_loss(const std::string& plugin, LossReason reason, int64_t n = 1);
  void write_loop();
  void write_batch(std::vector<Queued>& batch);
  // Appends an `events.lost` event (plugin adamd, data {plugin, reason,
  // count}) for every plugin and reason whose lost count grew since the
  // last one, so a time range shows where it lost events.
  void append_loss_markers(std::vector<Queued>& batch);
  void apply_retention();

  EventStore& store_;
  EventHubOptions options_;  // retention and max_events under retention_mu_ (set_retention)
  mutable std::mutex retention_mu_;

  // Consumer side: the sources and the libbpf ring_buffer over them.
  std::mutex sources_mu_;
  std::condition_variable sources_cv_;  // the consumer applied a change of sources
  std::map<uint64_t, std::shared_ptr<Source>> sources_;
  uint64_t next_source_id_ = 1;
  uint64_t sources_generation_ = 0;  // bumped on every add/remove
  uint64_t applied_generation_ = 0;  // what the consumer thread has rebuilt for
  std::string ring_added_error_;     // the last ring buffer libbpf refused
  bool stopping_ = false;
  ring_buffer* ring_ = nullptr;  // consumer thread only
  int wake_fd_ = -1;             // eventfd: wakes the consumer (sources changed, stop)
  int epoll_fd_ = -1;            // the wake fd and the ring_buffer's own epoll fd
  TimeNs boot_to_wall_ns_ = 0;   // CLOCK_REALTIME - CLOCK_BOOTTIME, refreshed by the consumer

  // The queue to the writer.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;    // to the writer: events arrived, flush, stop
  std::condition_variable flushed_cv_;  // from the writer: a batch is done
  std::vector<Queued> queue_;
  std::map<const std::string*, int64_t> queue_overflow_;  // dropped since the writer last looked
  uint64_t enqueued_total_ = 0;                           // events ever accepted into the queue
  uint64_t written_total_ = 0;  // of those, handled by the writer (stored or counted lost)
  int flush_waiters_ = 0;
  bool writer_stop_ = false;

  std::mutex counters_mu_;
  std::map<std::string, EventCounters> counters_;
  std::map<std::string, std::unique_ptr<std::string>> plugin_names_;
  // The kernel's lost counters of removed ring buffers, by plugin and reason.
  std::map<std::string, std::map<LossReason, int64_t>> kernel_lost_retired_;
  // What the loss markers reported so far (the writer's alone).
  std::map<std::string, std::map<LossReason, int64_t>> losses_marked_;

  std::mutex subscribers_mu_;
  std::vector<std::weak_ptr<EventSubscription>> subscribers_;

  TimeNs next_retention_ = 0;  // writer thread only
  std::thread consumer_;
  std::thread writer_;
};

// A ring buffer's place in the consumer loop (EventHub::add_ring_buffer).
class EventHub::Registration {
 public:
  Registration(EventHub& hub, uint64_t id) : hub_(hub), id_(id) {}
  ~Registration();  // drains the ring buffer and takes it out of the loop
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  EventHub& hub_;
  uint64_t id_;
};

}  // namespace adam
