#pragma once
// The event table of every plugin (DESIGN.md "Events"): batched appends by one
// writer, keyset-paginated queries and histograms on reader connections of
// their own (WAL: readers never wait for the writer), retention deletes in
// small batches. Plugin and kind are integer-coded through event_kinds, the
// host name through event_machines (see docs/events.md for why).
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/time_range.h"

namespace adam {

class Database;

// An event as queries return it.
struct Event {
  int64_t id = 0;
  TimeNs ts = 0;
  std::string plugin;
  std::string kind;
  std::string machine;
  std::string data;  // JSON object text
};

using KindId = uint32_t;

// An event on its way in: the writer assigns the id, the machine is the store's.
struct NewEvent {
  TimeNs ts = 0;
  KindId kind = 0;
  std::string data;  // JSON object text
};

// A data field's equality (data.KEY=VALUE in the events API): the field at
// the top level of the event's data, as text (a string as it is, a number
// in decimal, true/false as 1/0: SQLite's CAST(json_extract(...) AS TEXT)),
// equals `value`. `key` is [A-Za-z0-9_]{1,64} (the API checks it).
struct DataEquality {
  std::string key;
  std::string value;
  bool operator==(const DataEquality&) const = default;
};

struct EventFilter {
  TimeNs since = 0;                                   // inclusive
  TimeNs until = std::numeric_limits<TimeNs>::max();  // exclusive
  std::vector<std::string> plugins;                   // any of them; empty: all
  std::vector<std::string> kinds;                     // any of them; empty: all
  std::vector<DataEquality> data;                     // every one of them
};

// Whether an event's data (JSON object text) holds every data equality of
// `filter`, as the store's queries compare them (for the live stream).
bool data_matches(const EventFilter& filter, std::string_view data);

// Where a page ended: the next page starts just below this position in the
// order (ts, id) descending. Stable while new events arrive.
struct EventCursor {
  TimeNs ts = 0;
  int64_t id = 0;
  std::string encode() const;
  static std::optional<EventCursor> decode(std::string_view text);
};

struct EventPage {
  std::vector<Event> events;  // newest first
  std::optional<EventCursor> next;
};

enum class HistogramGroup { kind, plugin };

struct Histogram {
  TimeNs bucket_ns = 0;
  TimeNs first_bucket = 0;  // start of the bucket holding `since` (buckets align to the epoch)
  // Per bucket (first_bucket + i * bucket_ns), counts by kind or plugin.
  std::vector<std::map<std::string, int64_t>> counts;
};

struct KindName {
  std::string plugin;
  std::string kind;
};

class EventStore {
 public:
  // `db` must be migrated (it is: Database's constructor does it); the store
  // opens connections of its own to the same file. `machine` is this host's
  // name, recorded on every event it appends.
  EventStore(Database& db, const std::string& machine);
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // The integer code of (plugin, kind), assigned on first use without
  // touching the database (the writer records it with the next batch), so
  // producers never wait for the writer.
  KindId kind_id(std::string_view plugin, std::string_view kind);
  KindName kind_name(KindId id) const;

  // --- the writer's side: one thread at a time ---
  // Appends in one transaction; returns each event's id. Throws
  // SQLite::Exception; the transaction is then rolled back.
  std::vector<int64_t> append(std::span<const NewEvent> events);
  // Deletes up to `max_rows` of the oldest events older than `cutoff`;
  // returns how many it deleted.
  int64_t delete_older_than(TimeNs cutoff, int64_t max_rows);
  // Deletes up to `max_rows` of the oldest events (by ts, then id) while
  // more than `keep_rows` are stored; returns how many it deleted.
  int64_t delete_beyond(int64_t keep_rows, int64_t max_rows);
  // Events stored (kept exactly by the writer, not counted by a scan).
  int64_t row_count() const;

  // --- readers: any thread ---
  EventPage query(const EventFilter& filter, const std::optional<EventCursor>& after, int limit);
  Histogram histogram(const EventFilter& filter, TimeNs bucket_ns, HistogramGroup group);
  // The kinds that match the filter's plugins and kinds (every kind when
  // it names none).
  std::vector<KindId> matching_kinds(const EventFilter& filter) const;
  const std::string& machine() const { return machine_; }

 private:
  class ReaderLease;
  ReaderLease reader();
  size_t record_new_kinds();
  // An event's key in the table.
  struct RowKey {
    KindId kind;
    TimeNs ts;
    int64_t id;
  };
  // Up to `max_rows` of the oldest events (by ts, then id) older than
  // `before`: each kind's oldest from the start of its range, merged.
  std::vector<RowKey> oldest_rows(TimeNs before, int64_t max_rows);
  // Deletes the rows `doomed` and takes them off the per-minute counts,
  // inside the caller's transaction.
  int64_t delete_rows(const std::vector<RowKey>& doomed);
  Event to_event(sqlite3_stmt* row) const;
  // Adds (or with a negative sign removes) events to the per-minute counts.
  void add_to_minutes(const std::map<std::pair<int64_t, KindId>, int64_t>& counts, int sign);

  std::string path_;
  std::string machine_;
  int64_t machine_id_ = 0;

  mutable std::mutex kinds_mu_;
  std::vector<KindName> kinds_;                       // kinds_[id - 1]
  std::unordered_map<std::string, KindId> kind_ids_;  // "plugin\0kind" -> id
  size_t kinds_recorded_ = 0;                         // kinds_[0, kinds_recorded_) are in the database
  std::map<int64_t, std::string> machines_;           // event_machines, loaded at open

  // The writer's connection and statements (raw sqlite3: the insert path is hot).
  std::unique_ptr<SQLite::Database> writer_;
  struct Statement;
  std::unique_ptr<Statement> insert_block_;  // kInsertBlock rows per statement
  std::unique_ptr<Statement> insert_one_;
  std::unique_ptr<Statement> add_minute_;
  int64_t next_id_ = 1;
  std::atomic<int64_t> rows_{0};

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<SQLite::Database>> idle_readers_;

  static int on_wal_commit(void* self, sqlite3* db, const char* name, int wal_pages);
  void checkpoint_loop();
  std::unique_ptr<SQLite::Database> checkpoint_db_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_due_ = false;
  bool stop_checkpointer_ = false;
  std::thread checkpointer_;
};

}  // namespace adam
