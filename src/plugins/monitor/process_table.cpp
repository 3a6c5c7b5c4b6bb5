#include "plugins/monitor/process_table.h"

#include <algorithm>
#include <limits>
#include <tuple>

namespace adam::mon {

ProcessTable::ProcessTable(size_t capacity) : capacity_(capacity) {}

void ProcessTable::set_capacity(size_t capacity) {
  std::lock_guard lock(mu_);
  capacity_ = capacity;
  evict_to(capacity_);
}

size_t ProcessTable::capacity() const {
  std::lock_guard lock(mu_);
  return capacity_;
}

namespace {

bool changes_the_table(std::string_view kind) {
  return kind == "process.exit" || kind == "process.exec" || kind == "process.fork" || kind == "process.seen";
}

}  // namespace

void ProcessTable::apply(std::string_view kind, const nlohmann::json& data, TimeNs ts) {
  if (changes_the_table(kind)) apply(kind, process_from_event(kind, data, ts), ts);
}

void ProcessTable::apply(std::string_view kind, Process p, TimeNs ts) {
  if (!changes_the_table(kind)) return;
  const bool exit = kind == "process.exit";
  std::lock_guard lock(mu_);
  if (!exit) {
    insert(std::move(p), ts);
    evict_to(capacity_);
    return;
  }
  auto it = by_exec_id_.find(p.exec_id);
  if (it == by_exec_id_.end()) {
    // A process the table never held (evicted, or gone before the /proc
    // read that would have found it): held as exited, so that a read of it
    // arriving later does not bring it back, but not as its pid's current
    // process: its exit says nothing of what runs there now.
    add(std::move(p), ts, false);
    evict_to(capacity_);
    return;
  }
  if (it->second.process.exited) return;
  Process& held = it->second.process;
  held.exit_code = p.exit_code;
  held.signal = p.signal;
  mark_exited(held, ts);
}

size_t ProcessTable::end_round(const std::set<std::string>& found, TimeNs round_start) {
  std::lock_guard lock(mu_);
  std::unordered_map<std::string, TimeNs> missing;
  size_t marked = 0;
  for (auto& [exec_id, entry] : by_exec_id_) {
    Process& p = entry.process;
    if (p.exited || entry.since >= round_start || found.count(exec_id)) continue;
    if (auto before = missing_.find(exec_id); before != missing_.end()) {
      mark_exited(p, before->second);  // the live and exited sets only: by_exec_id_ stays as it is
      ++marked;
    } else {
      missing.emplace(exec_id, round_start);
    }
  }
  missing_ = std::move(missing);
  exits_missed_ += marked;
  return marked;
}

void ProcessTable::insert(Process p, TimeNs ts) {
  auto current = current_.find(p.pid);
  Entry* previous = current == current_.end() ? nullptr : &by_exec_id_.at(current->second);
  TimeNs since = ts;
  bool make_current = true;
  if (auto it = by_exec_id_.find(p.exec_id); it != by_exec_id_.end()) {
    // Known: its fields anew, its place kept (an image an exec replaced
    // never becomes current again).
    const Process& held = it->second.process;
    // The kernel's event of an exec id says more than /proc read around it
    // (its argv as execve got it); an exit already seen stays.
    if (p.seeded && !held.seeded) return;
    p.exited = held.exited;
    p.exit_code = held.exit_code;
    p.signal = held.signal;
    since = it->second.since;
    make_current = previous == nullptr || previous == &it->second;
    erase(p.exec_id);
  } else if (previous && ts < previous->since) {
    // Older than what made the pid's process current (a /proc read that
    // raced an exec, events out of order across CPUs): that image is gone.
    return;
  } else if (previous) {
    retire(*previous, ts);
  }
  add(std::move(p), since, make_current);
}

void ProcessTable::add(Process p, TimeNs since, bool make_current) {
  const std::string exec_id = p.exec_id;
  if (!p.parent_exec_id.empty()) children_[p.parent_exec_id].insert(exec_id);
  (p.exited ? exited_ : live_).emplace(p.exited ? *p.exited : p.started, exec_id);
  if (make_current) current_[p.pid] = exec_id;
  by_exec_id_[exec_id] = Entry{std::move(p), since};
}

void ProcessTable::mark_exited(Process& p, TimeNs at) {
  live_.erase({p.started, p.exec_id});
  p.exited = at;
  exited_.emplace(at, p.exec_id);
}

void ProcessTable::retire(Entry& current, TimeNs at) {
  Process& p = current.process;
  if (p.exited) return;  // already out of the live set; evicted in its turn
  auto kids = children_.find(p.exec_id);
  if (kids != children_.end() && !kids->second.empty())
    mark_exited(p, at);
  else
    erase(p.exec_id);
}

void ProcessTable::erase(const std::string& exec_id) {
  auto it = by_exec_id_.find(exec_id);
  if (it == by_exec_id_.end()) return;
  const Process& p = it->second.process;
  if (p.exited)
    exited_.erase({*p.exited, exec_id});
  else
    live_.erase({p.started, exec_id});
  if (auto parent = children_.find(p.parent_exec_id); parent != children_.end()) {
    parent->second.erase(exec_id);
    if (parent->second.empty()) children_.erase(parent);
  }
  if (auto current = current_.find(p.pid); current != current_.end() && current->second == exec_id)
    current_.erase(current);
  by_exec_id_.erase(it);
}

void ProcessTable::evict_to(size_t capacity) {
  while (by_exec_id_.size() > capacity) {
    Order& from = exited_.empty() ? live_ : exited_;
    erase(std::string(from.begin()->second));  // a copy: erase() takes it out of `from`
    ++evictions_;
  }
}

void ProcessTable::clear() {
  std::lock_guard lock(mu_);
  by_exec_id_.clear();
  current_.clear();
  children_.clear();
  live_.clear();
  exited_.clear();
  missing_.clear();
}

std::vector<Process> ProcessTable::list(bool with_exited) const {
  std::vector<Process> out;
  {
    std::lock_guard lock(mu_);
    out.reserve(with_exited ? by_exec_id_.size() : live_.size());
    for (const auto& [exec_id, entry] : by_exec_id_)
      if (with_exited || !entry.process.exited) out.push_back(entry.process);
  }
  // A pid's images in the order they ran: an image an exec replaced has the
  // same start as the one that replaced it, and an exit.
  auto order = [](const Process& p) {
    return std::tuple(p.pid, p.started, p.exited.value_or(std::numeric_limits<TimeNs>::max()));
  };
  std::sort(out.begin(), out.end(), [&](const Process& a, const Process& b) { return order(a) < order(b); });
  return out;
}

std::optional<Process> ProcessTable::find(std::string_view exec_id) const {
  std::lock_guard lock(mu_);
  auto it = by_exec_id_.find(std::string(exec_id));
  if (it == by_exec_id_.end()) return std::nullopt;
  return it->second.process;
}

std::vector<Process> ProcessTable::children(std::string_view exec_id) const {
  std::vector<Process> out;
  {
    std::lock_guard lock(mu_);
    auto kids = children_.find(std::string(exec_id));
    if (kids == children_.end()) return out;
    for (const std::string& child : kids->second) out.push_back(by_exec_id_.at(child).process);
  }
  std::sort(out.begin(), out.end(), [](const Process& a, const Process& b) { return a.started < b.started; });
  return out;
}

size_t ProcessTable::size() const {
  std::lock_guard lock(mu_);
  return by_exec_id_.size();
}

uint64_t ProcessTable::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

uint64_t ProcessTable::exits_missed() const {
  std::lock_guard lock(mu_);
  return exits_missed_;
}

}  // namespace adam::mon
