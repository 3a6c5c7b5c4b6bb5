#include "core/event_hub.h"

#include <bpf/bpf.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

#include "adam/events.h"
#include "core/bpf_handle.h"
#include "core/bpf_maps.h"

namespace adam {

std::string to_string(LossReason reason) {
  switch (reason) {
    case LossReason::kernel:
      return "kernel";
    case LossReason::queue:
      return "queue";
    case LossReason::write:
      return "write";
    case LossReason::decode:
      return "decode";
    case LossReason::rate_limit:
      return "rate_limit";
  }
  return "unknown";
}

namespace {

// Attempts at writing a batch while the database is locked, each waiting
// the store's busy timeout (5 s): about a minute.
constexpr int kBusyAttempts = 12;

TimeNs clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<TimeNs>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The slots of a kernel lost counter (bpf/adam/events.h) and the reasons they count.
constexpr std::pair<uint32_t, LossReason> kKernelLossSlots[] = {
    {ADAM_EVENT_LOST_RESERVE, LossReason::kernel},
    {ADAM_EVENT_LOST_RATE_LIMIT, LossReason::rate_limit},
};
static_assert(std::size(kKernelLossSlots) == ADAM_EVENT_LOST_SLOTS, "a lost counter slot without a reason");

// What the kernel counted in slot `slot` of a source's lost counter (0 for a
// source without one).
int64_t kernel_lost(int lost_counter_fd, uint32_t slot) {
  if (lost_counter_fd < 0) return 0;
  return static_cast<int64_t>(sum_per_cpu<uint64_t>(BpfMapAccess{}, lost_counter_fd, slot));
}

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

// --- subscriptions ---

void EventSubscription::offer(const Event& e) {
  if (!listed(filter_.plugins, e.plugin) || !listed(filter_.kinds, e.kind) || dropped_ ||
      !data_matches(filter_, e.data))
    return;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() >= capacity_)
      dropped_ = true;
    else
      pending_.push_back(e);
  }
  cv_.notify_one();
}

std::vector<Event> EventSubscription::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !pending_.empty() || dropped_; });
  std::vector<Event> out;
  out.swap(pending_);
  return out;
}

// --- ring buffer sources ---

struct EventHub::Source {
  EventHub* hub;
  RingBufferSource spec;
  const std::string* plugin;  // interned in plugin_names_
  // The lost counter's slots at registration (pinned maps outlive adamd).
  std::array<int64_t, ADAM_EVENT_LOST_SLOTS> lost_baseline{};
  // Kinds this source has named, resolved once (a handful per plugin).
  std::vector<std::pair<std::string, KindId>> kinds;

  KindId kind_id(std::string_view kind) {
    for (const auto& [name, id] : kinds)
      if (name == kind) return id;
    kinds.emplace_back(std::string(kind), hub->store_.kind_id(spec.plugin, kind));
    return kinds.back().second;
  }

  // Adds what the kernel counted lost since the registration, by reason.
  void add_kernel_losses(std::map<LossReason, int64_t>& lost) const {
    for (const auto& [slot, reason] : kKernelLossSlots)
      lost[reason] += kernel_lost(spec.lost_counter_fd, slot) - lost_baseline[slot];
  }
};

EventHub::Registration::~Registration() { hub_.remove_source(id_); }

EventHub::EventHub(EventStore& store, EventHubOptions options) : store_(store), options_(options) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || epoll_fd_ < 0) throw std::runtime_error(std::string("event hub: ") + strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  queue_.reserve(options_.queue_capacity);
  consumer_ = std::thread([this] { consume_loop(); });
  writer_ = std::thread([this] { write_loop(); });
}

EventHub::~EventHub() {
  {
    std::lock_guard lock(sources_mu_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  consumer_.join();
  {
    std::lock_guard lock(queue_mu_);
    writer_stop_ = true;
  }
  queue_cv_.notify_all();
  writer_.join();
  if (ring_) ring_buffer__free(ring_);
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

const std::string* EventHub::intern_plugin(std::string_view plugin) {
  std::lock_guard lock(counters_mu_);
  auto it = plugin_names_.find(std::string(plugin));
  if (it == plugin_names_.end())
    it = plugin_names_.emplace(std::string(plugin), std::make_unique<std::string>(plugin)).first;
  return it->second.get();
}

std::unique_ptr<EventHub::Registration> EventHub::add_ring_buffer(RingBufferSource spec) {
  auto source = std::make_shared<Source>();
  source->hub = this;
  source->plugin = intern_plugin(spec.plugin);
  for (const auto& [slot, reason] : kKernelLossSlots)
    source->lost_baseline[slot] = kernel_lost(spec.lost_counter_fd, slot);
  source->spec = std::move(spec);
  std::unique_lock lock(sources_mu_);
  const uint64_t id = next_source_id_++;
  sources_[id] = std::move(source);
  const uint64_t generation = ++sources_generation_;
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  sources_cv_.wait(lock, [&] { return applied_generation_ >= generation || stopping_; });
  if (!ring_added_error_.empty()) {
    std::string error = std::move(ring_added_error_);
    ring_added_error_.clear();
    sources_.erase(id);
    ++sources_generation_;
    throw std::runtime_error(error);
  }
  return std::make_unique<Registration>(*this, id);
}

void EventHub::remove_source(uint64_t id) {
  std::shared_ptr<Source> source;
  {
    std::unique_lock lock(sources_mu_);
    auto it = sources_.find(id);
    if (it == sources_.end()) return;
    source = it->second;
    sources_.erase(it);
    const uint64_t generation = ++sources_generation_;
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    // The consumer drains the old ring buffers before it lets go of them.
    sources_cv_.wait(lock, [&] { return applied_generation_ >= generation || stopping_; });
  }
  std::map<LossReason, int64_t> lost;
  source->add_kernel_losses(lost);
  std::lock_guard lock(counters_mu_);
  for (const auto& [reason, n] : lost) kernel_lost_retired_[source->spec.plugin][reason] += n;
}

// Consumer thread: libbpf cannot take a ring out of a ring_buffer, so a change
// of sources builds a new one (after draining the old, so nothing is lost).
void EventHub::rebuild_ring_buffers(std::vector<std::shared_ptr<Source>>& active) {
  if (ring_) {
    ring_buffer__consume(ring_);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, ring_buffer__epoll_fd(ring_), nullptr);
    ring_buffer__free(ring_);
    ring_ = nullptr;
  }
  std::lock_guard lock(sources_mu_);
  active.clear();
  for (auto& [id, source] : sources_) active.push_back(source);
  for (auto& source : active) {
    const int fd = source->spec.ring_buffer_fd;
    const int err =
        ring_ ? ring_buffer__add(ring_, fd, &EventHub::on_record, source.get())
              : ((ring_ = ring_buffer__new(fd, &EventHub::on_record, source.get(), nullptr)) ? 0 : -errno);
    if (err) {
      ring_added_error_ = "cannot read the ring buffer of " + source->spec.plugin + ": " + libbpf_error(err);
      spdlog::error("events: {}", ring_added_error_);
    }
  }
  if (ring_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = ring_buffer__epoll_fd(ring_);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ev.data.fd, &ev);
  }
  applied_generation_ = sources_generation_;
  sources_cv_.notify_all();
}

void EventHub::consume_loop() {
  // Keeps the sources the current ring_buffer points into alive.
  std::vector<std::shared_ptr<Source>> active;
  while (true) {
    bool rebuild;
    {
      std::lock_guard lock(sources_mu_);
      if (stopping_) break;
      rebuild = applied_generation_ != sources_generation_;
    }
    if (rebuild) rebuild_ring_buffers(active);
    // The programs wake this thread only once a ring is
    // 1/ADAM_EVENT_WAKEUP_SHARE full (bpf/adam/events.h): the timeout is
    // what reads a trickle of events.
    epoll_event events[2];
    const int n = ::epoll_wait(epoll_fd_, events, 2, ADAM_EVENT_POLL_MS);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_fd_) {
        uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof count);
      }
    }
    if (ring_) {
      boot_to_wall_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
      ring_buffer__consume(ring_);
    }
  }
  if (ring_) {
    boot_to_wall_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
    ring_buffer__consume(ring_);
  }
  std::lock_guard lock(sources_mu_);
  applied_generation_ = sources_generation_;
  sources_cv_.notify_all();
}

int EventHub::on_record(void* ctx, void* data, size_t size) {
  auto* source = static_cast<Source*>(ctx);
  EventHub& hub = *source->hub;
  adam_event_header header;
  DecodedRecord record;
  bool ok = size >= sizeof header;
  if (ok) {
    std::memcpy(&header, data, sizeof header);
    const std::span<const std::byte> payload(static_cast<const std::byte*>(data) + sizeof header,
                                             size - sizeof header);
    try {
      ok = source->spec.decode(header, payload, record);
    } catch (const std::exception& e) {
      spdlog::debug("events: {} decoder: {}", source->spec.plugin, e.what());
      ok = false;
    }
  }
  if (!ok) {
    hub.count_loss(*source->plugin, LossReason::decode);
    return 0;
  }
  const TimeNs ts = static_cast<TimeNs>(header.ts_boot_ns) + hub.boot_to_wall_ns_;
  hub.enqueue(source->kind_id(record.kind), ts, std::move(record.data), source->plugin);
  return 0;
}

// --- the queue ---

void EventHub::publish(std::string_view plugin, std::string_view kind, std::string data, TimeNs ts) {
  enqueue(store_.kind_id(plugin, kind), ts, std::move(data), intern_plugin(plugin));
}

void EventHub::enqueue(KindId kind, TimeNs ts, std::string data, const std::string* plugin) {
  bool was_empty;
  {
    std::lock_guard lock(queue_mu_);
    if (queue_.size() >= options_.queue_capacity) {
      ++queue_overflow_[plugin];
      return;
    }
    was_empty = queue_.empty();
    queue_.push_back(Queued{NewEvent{ts, kind, std::move(data)}, plugin});
    ++enqueued_total_;
  }
  if (was_empty) queue_cv_.notify_one();
}

void EventHub::count_loss(const std::string& plugin, LossReason reason, int64_t n) {
  std::lock_guard lock(counters_mu_);
  counters_[plugin].lost[reason] += n;
}

size_t EventHub::queue_depth() {
  std::lock_guard lock(queue_mu_);
  return queue_.size();
}

void EventHub::flush() {
  std::unique_lock lock(queue_mu_);
  const uint64_t target = enqueued_total_;
  ++flush_waiters_;
  queue_cv_.notify_all();
  flushed_cv_.wait(lock, [&] { return written_total_ >= target; });
  --flush_waiters_;
}

std::shared_ptr<EventSubscription> EventHub::subscribe(const EventFilter& filter, size_t capacity) {
  auto sub = std::make_shared<EventSubscription>(filter, capacity);
  std::lock_guard lock(subscribers_mu_);
  subscribers_.push_back(sub);
  return sub;
}

std::map<std::string, EventCounters> EventHub::counters() {
  std::map<std::string, EventCounters> out;
  {
    std::lock_guard lock(counters_mu_);
    out = counters_;
    for (const auto& [plugin, lost] : kernel_lost_retired_)
      for (const auto& [reason, n] : lost) out[plugin].lost[reason] += n;
  }
  std::lock_guard lock(sources_mu_);
  for (const auto& [id, source] : sources_) source->add_kernel_losses(out[source->spec.plugin].lost);
  return out;
}

// --- the writer ---

void EventHub::write_loop() {
  std::vector<Queued> batch;
  batch.reserve(options_.queue_capacity);
  std::map<const std::string*, int64_t> overflow;
  while (true) {
    {
      std::unique_lock lock(queue_mu_);
      const auto retention_due =
          std::chrono::system_clock::time_point(std::chrono::nanoseconds(next_retention_));
      // Idle, it still looks at the loss counters once a second (the
      // kernel counts losses without waking anyone) to mark them in time.
      queue_cv_.wait_until(
          lock, std::min(retention_due, std::chrono::system_clock::now() + std::chrono::seconds(1)),
          [&] { return writer_stop_ || !queue_.empty(); });
      if (!queue_.empty() && !writer_stop_) {
        // Let the batch grow for one window unless it is big already or
        // someone waits for it.
        queue_cv_.wait_for(lock, options_.batch_window, [&] {
          return writer_stop_ || flush_waiters_ > 0 || queue_.size() >= options_.max_batch;
        });
      }
      batch.swap(queue_);
      overflow.swap(queue_overflow_);
      if (writer_stop_ && batch.empty()) break;
    }
    for (const auto& [plugin, n] : overflow) count_loss(*plugin, LossReason::queue, n);
    overflow.clear();
    append_loss_markers(batch);
    if (!batch.empty()) write_batch(batch);
    {
      std::lock_guard lock(queue_mu_);
      written_total_ += batch.size();
    }
    flushed_cv_.notify_all();
    batch.clear();
    if (now_ns() >= next_retention_) apply_retention();
  }
}

void EventHub::write_batch(std::vector<Queued>& batch) {
  std::vector<NewEvent> rows;
  rows.reserve(batch.size());
  for (auto& q : batch) rows.push_back(std::move(q.event));
  std::map<const std::string*, int64_t> per_plugin;
  for (const auto& q : batch) ++per_plugin[q.plugin];
  std::vector<int64_t> ids;
  // Another writer holding the database past the busy timeout (a stream of
  // rule changes between which this one never got its turn, another
  // process) is contention, not a failed write: the batch waits for its
  // turn, the queue behind it counting what it cannot hold. append() leaves
  // nothing behind when it throws. Only a lock held for a minute gives up.
  for (int attempt = 1;; ++attempt) {
    try {
      ids = store_.append(rows);
      break;
    } catch (const SQLite::Exception& e) {
      const int code = e.getErrorCode();
      if ((code == SQLITE_BUSY || code == SQLITE_LOCKED) && attempt < kBusyAttempts) {
        spdlog::warn("events: the database is locked; writing {} events again (attempt {})", rows.size(),
                     attempt + 1);
        continue;
      }
      spdlog::error("events: writing {} events failed: {}", rows.size(), e.what());
    } catch (const std::exception& e) {
      spdlog::error("events: writing {} events failed: {}", rows.size(), e.what());
    }
    for (const auto& [plugin, n] : per_plugin) count_loss(*plugin, LossReason::write, n);
    return;
  }
  {
    std::lock_guard lock(counters_mu_);
    for (const auto& [plugin, n] : per_plugin) counters_[*plugin].stored += n;
  }
  std::vector<std::shared_ptr<EventSubscription>> subscribers;
  {
    std::lock_guard lock(subscribers_mu_);
    std::erase_if(subscribers_, [](const auto& weak) { return weak.expired(); });
    for (const auto& weak : subscribers_)
      if (auto sub = weak.lock(); sub && !sub->dropped()) subscribers.push_back(std::move(sub));
  }
  if (subscribers.empty()) return;
  for (size_t i = 0; i < rows.size(); ++i) {
    const KindName name = store_.kind_name(rows[i].kind);
    const Event e{ids[i], rows[i].ts, name.plugin, name.kind, store_.machine(), std::move(rows[i].data)};
    for (const auto& sub : subscribers) sub->offer(e);
  }
}

void EventHub::append_loss_markers(std::vector<Queued>& batch) {
  const TimeNs now = now_ns();
  for (const auto& [plugin, c] : counters()) {
    for (const auto& [reason, n] : c.lost) {
      int64_t& marked = losses_marked_[plugin][reason];
      if (n <= marked) continue;
      const std::string data = fmt::format(R"({{"plugin":{},"reason":"{}","count":{}}})",
                                           nlohmann::json(plugin).dump(), to_string(reason), n - marked);
      batch.push_back(
          Queued{NewEvent{now, store_.kind_id("adamd", "events.lost"), data}, intern_plugin("adamd")});
      marked = n;
    }
  }
}

// Small delete transactions, one per writer round while there is more to
// delete: ingest and queries go on in between.
void EventHub::set_retention(std::optional<Span> retention, int64_t max_events) {
  std::lock_guard lock(retention_mu_);
  options_.retention = retention;
  options_.max_events = max_events;
}

void EventHub::apply_retention() {
  std::optional<Span> retention;
  int64_t max_events = 0;
  {
    std::lock_guard lock(retention_mu_);
    retention = options_.retention;
    max_events = options_.max_events;
  }
  int64_t deleted = 0;
  try {
    if (retention)
      deleted += store_.delete_older_than(span_start(*retention, now_ns()), options_.retention_batch);
    if (max_events > 0 && deleted < options_.retention_batch)
      deleted += store_.delete_beyond(max_events, options_.retention_batch - deleted);
  } catch (const std::exception& e) {
    spdlog::warn("events: retention: {}", e.what());
  }
  if (deleted) spdlog::debug("events: retention deleted {} events", deleted);
  // More to delete: again right after the next batch; else in a second.
  next_retention_ = now_ns() + (deleted >= options_.retention_batch ? 0 : 1'000'000'000);
}

}  // namespace adam
