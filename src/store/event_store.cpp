#include "store/event_store.h"

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <numeric>
#include <tuple>

#include "store/database.h"

namespace adam {

namespace {

// Rows per multi-row INSERT: one statement per 64 rows runs the VDBE's
// per-statement work (reset, journal bookkeeping) 64 times less often than
// single-row INSERTs; 64 * 4 parameters stays far below SQLite's limit.
constexpr int kInsertBlock = 64;
constexpr int kParamsPerRow = 4;  // id, ts, kind_id, data
// Reader connections kept open between queries (more are opened on demand).
constexpr size_t kIdleReaders = 8;
// WAL pages (4 KiB) after which the checkpointer copies the WAL back: what
// SQLite's autocheckpoint would do, off the writer's thread.
constexpr int kCheckpointPages = 1000;
constexpr int kWalPagesLimit = 16 * kCheckpointPages;
constexpr TimeNs kMinuteNs = 60'000'000'000;

// `rows` rows of (id, ts, kind_id, data) per statement; the machine, the
// same in every row, is a literal rather than one more bind per row.
std::string insert_sql(int rows, int64_t machine_id) {
  std::string sql = "INSERT INTO events (id, ts, kind_id, machine_id, data) VALUES ";
  const std::string row = fmt::format("(?,?,?,{},?)", machine_id);
  for (int i = 0; i < rows; ++i) sql += (i ? "," : "") + row;
  return sql;
}

std::string kind_key(std::string_view plugin, std::string_view kind) {
  std::string key(plugin);
  key.push_back('\0');
  key.append(kind);
  return key;
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

std::string join_ids(const std::vector<KindId>& ids) {
  std::string out;
  for (KindId id : ids) out += fmt::format("{}{}", out.empty() ? "" : ",", id);
  return out;
}

// " AND CAST(json_extract(data, ?n) AS TEXT) = ?n+1" for each data
// equality of `filter`, numbered from `first_param` (bind_data binds them).
std::string data_sql(const EventFilter& filter, int first_param) {
  std::string sql;
  for (size_t i = 0; i < filter.data.size(); ++i) {
    const int n = first_param + 2 * static_cast<int>(i);
    sql += fmt::format(" AND CAST(json_extract(data, ?{}) AS TEXT) = ?{}", n, n + 1);
  }
  return sql;
}

void bind_data(sqlite3_stmt* s, const EventFilter& filter, int first_param) {
  for (size_t i = 0; i < filter.data.size(); ++i) {
    const int n = first_param + 2 * static_cast<int>(i);
    const std::string path = "$.\"" + filter.data[i].key + "\"";  // quoted: the key is one member's name
    sqlite3_bind_text(s, n, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(s, n + 1, filter.data[i].value.data(), static_cast<int>(filter.data[i].value.size()),
                      SQLITE_TRANSIENT);
  }
}

// A JSON value as CAST(json_extract(...) AS TEXT) gives it; nullopt for
// null (SQL NULL equals nothing).
std::optional<std::string> sql_text(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return std::nullopt;
    case nlohmann::json::value_t::string:
      return v.get<std::string>();
    case nlohmann::json::value_t::boolean:
      return v.get<bool>() ? "1" : "0";
    case nlohmann::json::value_t::number_unsigned:
      // Past int64, SQLite reads the number as a real.
      if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return sql_text(nlohmann::json(static_cast<double>(v.get<uint64_t>())));
      return v.dump();
    case nlohmann::json::value_t::number_float: {
      // SQLite writes a real with 15 significant digits and always a point,
      // and -0.0 as 0.0.
      const double d = v.get<double>();
      std::string text = fmt::format("{:.15g}", d == 0 ? 0.0 : d);
      if (text.find_first_of(".ein") == std::string::npos) text += ".0";
      if (const size_t e = text.find('e'); e != std::string::npos && text.find('.') == std::string::npos)
        text.insert(e, ".0");
      return text;
    }
    default:
      return v.dump();  // integers; arrays and objects as JSON text
  }
}

}  // namespace

bool data_matches(const EventFilter& filter, std::string_view data) {
  if (filter.data.empty()) return true;
  const nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
  if (!j.is_object()) return false;
  return std::all_of(filter.data.begin(), filter.data.end(), [&](const DataEquality& eq) {
    auto it = j.find(eq.key);
    return it != j.end() && sql_text(*it) == eq.value;
  });
}

// A prepared statement on the raw C API (the hot paths skip SQLiteCpp's
// per-call checks and copies).
struct EventStore::Statement {
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    check(sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr));
  }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void check(int rc) const {
    if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) throw SQLite::Exception(db_, rc);
  }
  // One step; true while it yields a row.
  bool step() {
    const int rc = sqlite3_step(stmt);
    check(rc);
    return rc == SQLITE_ROW;
  }
  void run() {
    step();
    sqlite3_reset(stmt);
  }
  void bind(int i, int64_t v) { sqlite3_bind_int64(stmt, i, v); }
  // The text must outlive the statement's next step (SQLITE_STATIC: no copy).
  void bind_static(int i, const std::string& v) {
    sqlite3_bind_text(stmt, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }

  sqlite3_stmt* stmt = nullptr;

 private:
  sqlite3* db_;
};

class EventStore::ReaderLease {
 public:
  ReaderLease(EventStore& store, std::unique_ptr<SQLite::Database> db) : store_(store), db_(std::move(db)) {}
  ~ReaderLease() {
    std::lock_guard lock(store_.readers_mu_);
    if (store_.idle_readers_.size() < kIdleReaders) store_.idle_readers_.push_back(std::move(db_));
  }
  ReaderLease(ReaderLease&&) = default;
  sqlite3* handle() const { return db_->getHandle(); }

 private:
  EventStore& store_;
  std::unique_ptr<SQLite::Database> db_;
};

std::string EventCursor::encode() const { return fmt::format("{:x}.{:x}", ts, id); }

std::optional<EventCursor> EventCursor::decode(std::string_view text) {
  EventCursor c;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  auto field = [&](auto& out, bool last) {
    auto [ptr, ec] = std::from_chars(p, end, out, 16);
    if (ec != std::errc() || ptr == p || out < 0) return false;
    p = ptr;
    if (last) return p == end;
    if (p == end || *p != '.') return false;
    ++p;
    return true;
  };
  if (!field(c.ts, false) || !field(c.id, true)) return std::nullopt;
  return c;
}

EventStore::EventStore(Database& db, const std::string& machine) : path_(db.path()), machine_(machine) {
  // NOMUTEX: each connection of the store is used by one thread at a time,
  // so SQLite need not lock it on every call.
  writer_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX);
  writer_->setBusyTimeout(5000);
  writer_->exec("PRAGMA synchronous=NORMAL");
  // Appends touch the right edges of the table and of each kind's index
  // range: 8 MiB keeps those and a batch's pages; a larger cache measured
  // slower (page faults while it fills).
  writer_->exec("PRAGMA cache_size=-8192");
  // Checkpoints (copying the WAL back into the database file) run on a
  // thread of their own instead of inside the writer's commits: ingest does
  // not stall on them. This hook replaces the writer's autocheckpoint.
  sqlite3_wal_hook(writer_->getHandle(), &EventStore::on_wal_commit, this);

  SQLite::Statement add_machine(*writer_, "INSERT OR IGNORE INTO event_machines (name) VALUES (?)");
  add_machine.bind(1, machine);
  add_machine.exec();
  SQLite::Statement machines(*writer_, "SELECT id, name FROM event_machines");
  while (machines.executeStep()) {
    machines_[machines.getColumn(0).getInt64()] = machines.getColumn(1).getString();
    if (machines.getColumn(1).getString() == machine) machine_id_ = machines.getColumn(0).getInt64();
  }
  SQLite::Statement kinds(*writer_, "SELECT id, plugin, kind FROM event_kinds ORDER BY id");
  while (kinds.executeStep()) {
    const auto id = static_cast<size_t>(kinds.getColumn(0).getInt64());
    if (id != kinds_.size() + 1) throw std::runtime_error("event_kinds ids are not 1..n");
    kinds_.push_back({kinds.getColumn(1).getString(), kinds.getColumn(2).getString()});
    kind_ids_[kind_key(kinds_.back().plugin, kinds_.back().kind)] = static_cast<KindId>(id);
  }
  kinds_recorded_ = kinds_.size();
  SQLite::Statement counts(*writer_, "SELECT rows, next_id FROM event_counts");
  if (!counts.executeStep()) throw std::runtime_error("event_counts has no row");
  rows_ = counts.getColumn(0).getInt64();
  next_id_ = counts.getColumn(1).getInt64();

  insert_block_ = std::make_unique<Statement>(writer_->getHandle(), insert_sql(kInsertBlock, machine_id_));
  insert_one_ = std::make_unique<Statement>(writer_->getHandle(), insert_sql(1, machine_id_));
  add_minute_ = std::make_unique<Statement>(
      writer_->getHandle(),
      "INSERT INTO event_minutes (minute, kind_id, count) VALUES (?, ?, ?) "
      "ON CONFLICT (minute, kind_id) DO UPDATE SET count = count + excluded.count");

  checkpoint_db_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX);
  checkpoint_db_->setBusyTimeout(5000);
  // A connection learns that the file is in WAL mode on its first read; a
  // checkpoint before that does nothing.
  if (checkpoint_db_->execAndGet("PRAGMA journal_mode").getString() != "wal")
    throw std::runtime_error(path_ + " is not in WAL mode");
  checkpointer_ = std::thread([this] { checkpoint_loop(); });  // last: nothing below may throw
}

EventStore::~EventStore() {
  {
    std::lock_guard lock(checkpoint_mu_);
    stop_checkpointer_ = true;
  }
  checkpoint_cv_.notify_one();
  checkpointer_.join();
}

int EventStore::on_wal_commit(void* self, sqlite3* db, const char*, int wal_pages) {
  auto* store = static_cast<EventStore*>(self);
  // The checkpointer cannot finish while the writer keeps committing (each
  // commit adds frames it has not copied yet), so the WAL would only grow
  // during a long flood: past this size the writer checkpoints itself, as
  // SQLite's autocheckpoint would, and the next transaction starts the WAL over.
  if (wal_pages >= kWalPagesLimit) {
    sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (wal_pages >= kCheckpointPages) {
    {
      std::lock_guard lock(store->checkpoint_mu_);
      store->checkpoint_due_ = true;
    }
    store->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void EventStore::checkpoint_loop() {
  std::unique_lock lock(checkpoint_mu_);
  while (true) {
    checkpoint_cv_.wait(lock, [this] { return checkpoint_due_ || stop_checkpointer_; });
    if (stop_checkpointer_) return;
    checkpoint_due_ = false;
    lock.unlock();
    // PASSIVE: copies what no reader still needs, never waits for anyone.
    sqlite3_wal_checkpoint_v2(checkpoint_db_->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
    lock.lock();
  }
}

KindId EventStore::kind_id(std::string_view plugin, std::string_view kind) {
  std::string key = kind_key(plugin, kind);
  std::lock_guard lock(kinds_mu_);
  auto it = kind_ids_.find(key);
  if (it != kind_ids_.end()) return it->second;
  kinds_.push_back({std::string(plugin), std::string(kind)});
  const auto id = static_cast<KindId>(kinds_.size());
  kind_ids_.emplace(std::move(key), id);
  return id;
}

KindName EventStore::kind_name(KindId id) const {
  std::lock_guard lock(kinds_mu_);
  if (id == 0 || id > kinds_.size()) return {"?", "?"};
  return kinds_[id - 1];
}

int64_t EventStore::row_count() const { return rows_.load(); }

size_t EventStore::record_new_kinds() {
  std::vector<std::pair<KindId, KindName>> pending;
  {
    std::lock_guard lock(kinds_mu_);
    for (size_t i = kinds_recorded_; i < kinds_.size(); ++i)
      pending.emplace_back(static_cast<KindId>(i + 1), kinds_[i]);
  }
  if (pending.empty()) return 0;
  SQLite::Statement add(*writer_, "INSERT OR IGNORE INTO event_kinds (id, plugin, kind) VALUES (?, ?, ?)");
  for (const auto& [id, name] : pending) {
    add.bind(1, static_cast<int64_t>(id));
    add.bind(2, name.plugin);
    add.bind(3, name.kind);
    add.exec();
    add.reset();
  }
  return pending.back().first;
}

std::vector<int64_t> EventStore::append(std::span<const NewEvent> events) {
  std::vector<int64_t> ids(events.size());
  if (events.empty()) return ids;
  // Rows go in by (kind, ts) and get their ids in that order: each kind's
  // entries then append at the right edge of its part of the table (keyed
  // (kind_id, ts, id)), one seek per kind and batch instead of one per row.
  // Pages sort by (ts, id), so the order in a batch is free.
  // The keys sorted in place of indirect comparisons through `events`: the
  // index last makes equal (kind, ts) keep their arrival order.
  std::vector<std::tuple<KindId, TimeNs, size_t>> keys(events.size());
  for (size_t i = 0; i < events.size(); ++i) keys[i] = {events[i].kind, events[i].ts, i};
  std::sort(keys.begin(), keys.end());
  std::vector<size_t> order(events.size());
  for (size_t i = 0; i < keys.size(); ++i) order[i] = std::get<2>(keys[i]);
  SQLite::Transaction tx(*writer_, SQLite::TransactionBehavior::IMMEDIATE);
  const size_t recorded = record_new_kinds();
  int64_t id = next_id_;
  auto bind_row = [&](Statement& s, int base, size_t index) {
    const NewEvent& e = events[index];
    ids[index] = id;
    s.bind(base + 1, id++);
    s.bind(base + 2, e.ts);
    s.bind(base + 3, static_cast<int64_t>(e.kind));
    s.bind_static(base + 4, e.data);
  };
  size_t i = 0;
  for (; i + kInsertBlock <= order.size(); i += kInsertBlock) {
    for (int r = 0; r < kInsertBlock; ++r) bind_row(*insert_block_, r * kParamsPerRow, order[i + r]);
    insert_block_->run();
  }
  for (; i < order.size(); ++i) {
    bind_row(*insert_one_, 0, order[i]);
    insert_one_->run();
  }
  // Sorted by (kind, ts), equal (minute, kind) pairs are neighbours.
  std::map<std::pair<int64_t, KindId>, int64_t> minutes;
  std::pair<int64_t, KindId> run{-1, 0};
  int64_t run_length = 0;
  for (size_t index : order) {
    const std::pair<int64_t, KindId> key{events[index].ts / kMinuteNs, events[index].kind};
    if (key != run && run_length) {
      minutes[run] += run_length;
      run_length = 0;
    }
    run = key;
    ++run_length;
  }
  minutes[run] += run_length;
  add_to_minutes(minutes, 1);
  SQLite::Statement counts(*writer_, "UPDATE event_counts SET rows = rows + ?, next_id = ?");
  counts.bind(1, static_cast<int64_t>(events.size()));
  counts.bind(2, id);
  counts.exec();
  tx.commit();
  next_id_ = id;
  rows_ += static_cast<int64_t>(events.size());
  if (recorded) {
    std::lock_guard lock(kinds_mu_);
    kinds_recorded_ = std::max(kinds_recorded_, recorded);
  }
  return ids;
}

void EventStore::add_to_minutes(const std::map<std::pair<int64_t, KindId>, int64_t>& counts, int sign) {
  for (const auto& [key, n] : counts) {
    add_minute_->bind(1, key.first);
    add_minute_->bind(2, static_cast<int64_t>(key.second));
    add_minute_->bind(3, sign * n);
    add_minute_->run();
  }
}

int64_t EventStore::delete_rows(const std::vector<RowKey>& doomed) {
  SQLite::Statement del(*writer_, "DELETE FROM events WHERE kind_id = ? AND ts = ? AND id = ?");
  std::map<std::pair<int64_t, KindId>, int64_t> minutes;
  int64_t deleted = 0;
  for (const RowKey& row : doomed) {
    ++minutes[{row.ts / kMinuteNs, row.kind}];
    del.bind(1, static_cast<int64_t>(row.kind));
    del.bind(2, row.ts);
    del.bind(3, row.id);
    deleted += del.exec();
    del.reset();
  }
  add_to_minutes(minutes, -1);
  writer_->exec("DELETE FROM event_minutes WHERE count <= 0");
  SQLite::Statement counts(*writer_, "UPDATE event_counts SET rows = rows - ?");
  counts.bind(1, deleted);
  counts.exec();
  return deleted;
}

std::vector<EventStore::RowKey> EventStore::oldest_rows(TimeNs before, int64_t max_rows) {
  // Each kind's oldest, from the start of its range; the oldest of those.
  std::vector<RowKey> rows;
  SQLite::Statement oldest(*writer_,
                           "SELECT kind_id, ts, id FROM events WHERE kind_id = ? AND ts < ? "
                           "ORDER BY ts, id LIMIT ?");
  for (KindId kind : matching_kinds({})) {
    oldest.bind(1, static_cast<int64_t>(kind));
    oldest.bind(2, before);
    oldest.bind(3, max_rows);
    while (oldest.executeStep())
      rows.push_back({kind, oldest.getColumn(1).getInt64(), oldest.getColumn(2).getInt64()});
    oldest.reset();
  }
  std::sort(rows.begin(), rows.end(),
            [](const RowKey& a, const RowKey& b) { return std::pair(a.ts, a.id) < std::pair(b.ts, b.id); });
  if (static_cast<int64_t>(rows.size()) > max_rows) rows.resize(static_cast<size_t>(max_rows));
  return rows;
}

int64_t EventStore::delete_older_than(TimeNs cutoff, int64_t max_rows) {
  SQLite::Transaction tx(*writer_, SQLite::TransactionBehavior::IMMEDIATE);
  const int64_t deleted = delete_rows(oldest_rows(cutoff, max_rows));
  tx.commit();
  rows_ -= deleted;
  return deleted;
}

int64_t EventStore::delete_beyond(int64_t keep_rows, int64_t max_rows) {
  const int64_t rows = std::min(max_rows, rows_.load() - keep_rows);
  if (rows <= 0) return 0;
  SQLite::Transaction tx(*writer_, SQLite::TransactionBehavior::IMMEDIATE);
  const int64_t deleted = delete_rows(oldest_rows(std::numeric_limits<TimeNs>::max(), rows));
  tx.commit();
  rows_ -= deleted;
  return deleted;
}

EventStore::ReaderLease EventStore::reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!idle_readers_.empty()) {
      auto db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(*this, std::move(db));
    }
  }
  auto db = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX);
  db->setBusyTimeout(5000);
  db->exec("PRAGMA query_only=1");
  return ReaderLease(*this, std::move(db));
}

std::vector<KindId> EventStore::matching_kinds(const EventFilter& filter) const {
  auto listed = [](const std::vector<std::string>& list, const std::string& value) {
    return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
  };
  std::vector<KindId> ids;
  std::lock_guard lock(kinds_mu_);
  for (size_t i = 0; i < kinds_.size(); ++i)
    if (listed(filter.plugins, kinds_[i].plugin) && listed(filter.kinds, kinds_[i].kind))
      ids.push_back(static_cast<KindId>(i + 1));
  return ids;
}

Event EventStore::to_event(sqlite3_stmt* row) const {
  Event e;
  e.id = sqlite3_column_int64(row, 0);
  e.ts = sqlite3_column_int64(row, 1);
  KindName name = kind_name(static_cast<KindId>(sqlite3_column_int64(row, 2)));
  e.plugin = std::move(name.plugin);
  e.kind = std::move(name.kind);
  auto machine = machines_.find(sqlite3_column_int64(row, 3));
  e.machine = machine == machines_.end() ? "?" : machine->second;
  e.data = column_text(row, 4);
  return e;
}

EventPage EventStore::query(const EventFilter& filter, const std::optional<EventCursor>& after, int limit) {
  EventPage page;
  // Everything below (bound_ts, bound_id) in (ts, id) order: `until` alone is
  // (until, min), a cursor is its own position.
  TimeNs bound_ts = filter.until;
  int64_t bound_id = std::numeric_limits<int64_t>::min();
  if (after && std::pair(after->ts, after->id) < std::pair(bound_ts, bound_id)) {
    bound_ts = after->ts;
    bound_id = after->id;
  }
  auto db = reader();
  // One index range per kind, newest first (a rare kind reads only its own
  // entries), merged below.
  Statement q(db.handle(),
              "SELECT id, ts, kind_id, machine_id, data FROM events "
              "WHERE kind_id = ?4 AND ts >= ?1 AND (ts, id) < (?2, ?3)" +
                  data_sql(filter, 6) + " ORDER BY ts DESC, id DESC LIMIT ?5");
  bind_data(q.stmt, filter, 6);  // kept across the resets below
  std::vector<Event> merged;
  for (KindId kind : matching_kinds(filter)) {
    q.bind(1, filter.since);
    q.bind(2, bound_ts);
    q.bind(3, bound_id);
    q.bind(4, static_cast<int64_t>(kind));
    q.bind(5, static_cast<int64_t>(limit) + 1);  // one more tells whether a next page exists
    while (q.step()) merged.push_back(to_event(q.stmt));
    sqlite3_reset(q.stmt);
  }
  std::sort(merged.begin(), merged.end(),
            [](const Event& a, const Event& b) { return std::pair(a.ts, a.id) > std::pair(b.ts, b.id); });
  if (static_cast<int>(merged.size()) > limit) {
    merged.resize(static_cast<size_t>(limit));
    page.next = EventCursor{merged.back().ts, merged.back().id};
  }
  page.events = std::move(merged);
  return page;
}

Histogram EventStore::histogram(const EventFilter& filter, TimeNs bucket_ns, HistogramGroup group) {
  Histogram h;
  h.bucket_ns = bucket_ns;
  h.first_bucket = filter.since / bucket_ns * bucket_ns;
  const TimeNs until = filter.until == std::numeric_limits<TimeNs>::max() ? now_ns() : filter.until;
  if (until <= filter.since) return h;
  h.counts.resize(static_cast<size_t>((until - h.first_bucket - 1) / bucket_ns + 1));
  const std::vector<KindId> kinds = matching_kinds(filter);
  if (kinds.empty()) return h;
  const std::string kind_list = "(" + join_ids(kinds) + ")";
  auto add = [&](TimeNs start, KindId kind, int64_t n) {
    const KindName name = kind_name(kind);
    h.counts[static_cast<size_t>((start - h.first_bucket) / bucket_ns)]
            [group == HistogramGroup::kind ? name.kind : name.plugin] += n;
  };
  auto db = reader();
  // The ranges counted from the events themselves: with data equalities all
  // of it (the per-minute counts know no data), else only the partial
  // minutes at either end, the whole minutes (buckets are whole minutes
  // aligned to the epoch) coming from the per-minute counts.
  std::vector<std::pair<TimeNs, TimeNs>> from_events;
  if (filter.data.empty()) {
    const int64_t first_minute = (filter.since + kMinuteNs - 1) / kMinuteNs;
    const int64_t end_minute = std::max(first_minute, until / kMinuteNs);
    Statement minutes(db.handle(),
                      "SELECT minute, kind_id, count FROM event_minutes "
                      "WHERE minute >= ?1 AND minute < ?2 AND kind_id IN " +
                          kind_list);
    minutes.bind(1, first_minute);
    minutes.bind(2, end_minute);
    while (minutes.step())
      add(sqlite3_column_int64(minutes.stmt, 0) * kMinuteNs,
          static_cast<KindId>(sqlite3_column_int64(minutes.stmt, 1)), sqlite3_column_int64(minutes.stmt, 2));
    from_events = {{filter.since, std::min(until, first_minute * kMinuteNs)},
                   {std::max(filter.since, end_minute * kMinuteNs), until}};
  } else {
    from_events = {{filter.since, until}};
  }
  Statement edge(db.handle(), "SELECT ts / ?3 * ?3, kind_id, count(*) FROM events WHERE kind_id IN " +
                                  kind_list + " AND ts >= ?1 AND ts < ?2" + data_sql(filter, 4) +
                                  " GROUP BY 1, 2");
  bind_data(edge.stmt, filter, 4);
  for (const auto& [from, to] : from_events) {
    if (from >= to) continue;
    edge.bind(1, from);
    edge.bind(2, to);
    edge.bind(3, bucket_ns);
    while (edge.step())
      add(sqlite3_column_int64(edge.stmt, 0), static_cast<KindId>(sqlite3_column_int64(edge.stmt, 1)),
          sqlite3_column_int64(edge.stmt, 2));
    sqlite3_reset(edge.stmt);
  }
  return h;
}

}  // namespace adam
