// The event store on real SQLite files: appends, keyset pagination (also
// while new events arrive), filters, histograms, retention and ids.
#include "store/event_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "store/database.h"

#include <SQLiteCpp/Database.h>

namespace adam {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;
constexpr TimeNs kMinute = 60 * kSecond;

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/adamt-events-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    open();
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    store_.reset();
    db_.reset();
    db_ = std::make_unique<Database>(dir_ + "/adam.db");
    store_ = std::make_unique<EventStore>(*db_, "host-a");
  }
  // Appends one event per ts, of the given plugin/kind; data {"n": i}.
  void append(const std::vector<TimeNs>& times, const std::string& plugin = "fw",
              const std::string& kind = "fw.drop") {
    std::vector<NewEvent> events;
    for (size_t i = 0; i < times.size(); ++i)
      events.push_back({times[i], store_->kind_id(plugin, kind), "{\"n\":" + std::to_string(i) + "}"});
    store_->append(events);
  }
  std::vector<int64_t> all_ids(const EventFilter& filter, int page_size) {
    std::vector<int64_t> ids;
    std::optional<EventCursor> cursor;
    do {
      EventPage page = store_->query(filter, cursor, page_size);
      for (const auto& e : page.events) ids.push_back(e.id);
      cursor = page.next;
    } while (cursor);
    return ids;
  }
  int64_t count(const EventFilter& filter = {}) { return static_cast<int64_t>(all_ids(filter, 1000).size()); }

  std::string dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(EventStoreTest, EventsComeBackNewestFirstWithEveryField) {
  const TimeNs t0 = 1'780'000'000 * kSecond;
  append({t0, t0 + 2, t0 + 1});
  append({t0 + 3}, "adamd", "api.change");
  const EventPage page = store_->query({}, std::nullopt, 10);
  ASSERT_EQ(page.events.size(), 4u);
  EXPECT_FALSE(page.next);
  EXPECT_EQ(page.events[0].ts, t0 + 3);
  EXPECT_EQ(page.events[0].plugin, "adamd");
  EXPECT_EQ(page.events[0].kind, "api.change");
  EXPECT_EQ(page.events[0].machine, "host-a");
  EXPECT_EQ(page.events[0].data, "{\"n\":0}");
  EXPECT_EQ(page.events[1].ts, t0 + 2);
  EXPECT_EQ(page.events[2].ts, t0 + 1);
  EXPECT_EQ(page.events[3].ts, t0);
  EXPECT_EQ(page.events[3].id, 1);
  EXPECT_EQ(store_->row_count(), 4);
}

TEST_F(EventStoreTest, FiltersByTimeRangePluginAndKinds) {
  const TimeNs t0 = 1'780'000'000 * kSecond;
  append({t0, t0 + kMinute, t0 + 2 * kMinute}, "fw", "fw.drop");
  append({t0 + 30 * kSecond}, "fw", "fw.pass");
  append({t0 + 90 * kSecond}, "mon", "process.exec");
  EXPECT_EQ(count({.since = t0 + kMinute}), 3);
  EXPECT_EQ(count({.since = t0, .until = t0 + kMinute}), 2);  // until is exclusive
  EXPECT_EQ(count({.plugins = {"fw"}}), 4);
  EXPECT_EQ(count({.kinds = {"fw.pass", "process.exec"}}), 2);
  EXPECT_EQ(count({.plugins = {"mon"}, .kinds = {"fw.drop"}}), 0);
  EXPECT_EQ(count({.kinds = {"never.seen"}}), 0);
}

TEST_F(EventStoreTest, CursorsEncodeAndRefuseGarbage) {
  const EventCursor c{1'780'000'000 * kSecond, 123456};
  auto back = EventCursor::decode(c.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ts, c.ts);
  EXPECT_EQ(back->id, c.id);
  for (const char* bad : {"", "1", "1.", "1.2.", "1.2.3", "x.2", "1.2z", "-1.2", "1..3", ".2"})
    EXPECT_FALSE(EventCursor::decode(bad)) << bad;
}

// Keyset pagination: pages of a fixed range while a writer keeps adding newer
// events return each stored event exactly once, ties in ts included.
TEST_F(EventStoreTest, PaginationUnderConcurrentInsertsReturnsEachEventOnce) {
  const TimeNs t0 = now_ns() - 3600 * kSecond;
  std::vector<TimeNs> times;
  for (int i = 0; i < 5000; ++i) times.push_back(t0 + (i / 3) * kSecond);  // triples share a ts
  append(times, "fw", "fw.drop");
  append(times, "fw", "fw.pass");  // same ts, other kind
  const EventFilter filter{.since = t0 - 1};

  std::atomic<bool> stop = false;
  std::atomic<int> added = 0;
  // The store has one writer thread at a time: this one.
  std::thread writer([&] {
    while (!stop) {
      append({now_ns(), now_ns()}, "fw", "fw.drop");
      added += 2;
    }
  });
  std::vector<int64_t> ids;
  std::optional<EventCursor> cursor;
  int pages = 0;
  do {
    EventPage page = store_->query(filter, cursor, 97);
    for (const auto& e : page.events) ids.push_back(e.id);
    cursor = page.next;
    ++pages;
  } while (cursor && ids.size() < 100'000);
  stop = true;
  writer.join();

  EXPECT_GT(added.load(), 0);
  EXPECT_GT(pages, 100);
  const std::set<int64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size()) << "an event came twice";
  for (int64_t id = 1; id <= 10000; ++id) EXPECT_TRUE(unique.count(id)) << "event " << id << " missing";
}

TEST_F(EventStoreTest, RetentionByAgeRemovesExactlyTheOldRows) {
  const TimeNs cutoff = 1'780'000'000 * kSecond;
  std::vector<TimeNs> old_times, new_times;
  for (int i = 0; i < 2500; ++i) old_times.push_back(cutoff - 1 - i * kSecond);
  for (int i = 0; i < 1500; ++i) new_times.push_back(cutoff + i * kSecond);
  append(old_times);
  append(new_times);
  int64_t deleted = 0;
  while (int64_t n = store_->delete_older_than(cutoff, 1000)) {
    EXPECT_LE(n, 1000);  // small batches
    deleted += n;
  }
  EXPECT_EQ(deleted, 2500);
  EXPECT_EQ(store_->row_count(), 1500);
  EXPECT_EQ(count({.until = cutoff}), 0);
  EXPECT_EQ(count({.since = cutoff}), 1500);
}

TEST_F(EventStoreTest, RetentionByCountRemovesTheOldest) {
  const TimeNs t0 = 1'780'000'000 * kSecond;
  std::vector<TimeNs> times;
  for (int i = 0; i < 3000; ++i) times.push_back(t0 + i * kSecond);
  for (size_t first = 0; first < times.size(); first += 500)  // in batches, like the writer
    append(std::vector<TimeNs>(times.begin() + first, times.begin() + first + 500), "fw",
           first % 1000 ? "fw.drop" : "fw.pass");
  while (store_->delete_beyond(1000, 300) > 0) {
  }
  EXPECT_EQ(store_->row_count(), 1000);
  EXPECT_EQ(count(), 1000);
  EXPECT_EQ(count({.since = t0 + 2000 * kSecond}), 1000) << "the newest 1000 stay";
  const Histogram h =
      store_->histogram({.since = t0, .until = t0 + 3000 * kSecond}, kMinute, HistogramGroup::plugin);
  int64_t histogram_total = 0;
  for (const auto& bucket : h.counts)
    for (const auto& [plugin, n] : bucket) histogram_total += n;
  EXPECT_EQ(histogram_total, 1000) << "the per-minute counts follow the deletes";
}

// A database of the schema before events were clustered by (kind_id, ts,
// id) keeps every event, id and count through the migration.
TEST_F(EventStoreTest, EventsOfTheRowidSchemaSurviveTheMigration) {
  store_.reset();
  db_.reset();
  std::filesystem::remove_all(dir_ + "/adam.db");
  std::vector<Migration> up_to_3;
  for (const Migration& m : schema_migrations())
    if (m.version <= 3) up_to_3.push_back(m);
  {
    Database old(dir_ + "/adam.db", up_to_3);
    old.with([](SQLite::Database& db) {
      db.exec(
          "INSERT INTO event_kinds VALUES (1, 'fw', 'fw.drop'), (2, 'adamd', 'api.change');"
          "INSERT INTO event_machines VALUES (1, 'host-a');"
          "INSERT INTO events VALUES (7, 1780000000000000000, 1, 1, '{\"n\":1}'),"
          "  (8, 1780000001000000000, 2, 1, '{\"n\":2}'), (9, 1780000002000000000, 1, 1, '{\"n\":3}');"
          "UPDATE event_counts SET rows = 3, next_id = 10;");
    });
  }
  open();
  EXPECT_EQ(db_->schema_version(), schema_migrations().back().version);
  EXPECT_EQ(store_->row_count(), 3);
  const EventPage page = store_->query({}, std::nullopt, 10);
  ASSERT_EQ(page.events.size(), 3u);
  EXPECT_EQ(page.events[0].id, 9);
  EXPECT_EQ(page.events[0].data, "{\"n\":3}");
  EXPECT_EQ(page.events[1].kind, "api.change");
  EXPECT_EQ(store_->query({.kinds = {"fw.drop"}}, std::nullopt, 10).events.size(), 2u);
  append({1'780'000'003 * kSecond});
  EXPECT_EQ(store_->query({}, std::nullopt, 1).events[0].id, 10) << "ids go on where they were";
}

TEST_F(EventStoreTest, IdsAndCountSurviveReopeningAndAnEmptiedTable) {
  const TimeNs t0 = 1'780'000'000 * kSecond;
  append({t0, t0 + 1, t0 + 2});
  while (store_->delete_older_than(t0 + 10, 100) > 0) {
  }
  EXPECT_EQ(store_->row_count(), 0);
  open();
  append({t0 + 20}, "adamd", "api.change");
  EventPage page = store_->query({}, std::nullopt, 10);
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0].id, 4) << "ids are never reused";
  EXPECT_EQ(page.events[0].kind, "api.change");
  EXPECT_EQ(store_->row_count(), 1);
  open();
  EXPECT_EQ(store_->row_count(), 1);
  EXPECT_EQ(store_->query({.kinds = {"api.change"}}, std::nullopt, 10).events.size(), 1u);
}

TEST_F(EventStoreTest, HistogramCountsPerAlignedBucketByKindOrPlugin) {
  const TimeNs t0 = 1'780'000'000 * kSecond / (5 * kMinute) * (5 * kMinute);  // a 5 min boundary
  append({t0, t0 + kMinute, t0 + 5 * kMinute - 1, t0 + 12 * kMinute}, "fw", "fw.drop");
  append({t0 + 6 * kMinute, t0 + 14 * kMinute}, "mon", "process.exec");
  append({t0 - 1, t0 + 15 * kMinute}, "fw", "fw.drop");  // outside [since, until)
  const EventFilter range{.since = t0 + 30 * kSecond, .until = t0 + 15 * kMinute};
  Histogram h = store_->histogram(range, 5 * kMinute, HistogramGroup::kind);
  EXPECT_EQ(h.first_bucket, t0);
  ASSERT_EQ(h.counts.size(), 3u);
  EXPECT_EQ(h.counts[0], (std::map<std::string, int64_t>{{"fw.drop", 2}}));  // t0 itself is before since
  EXPECT_EQ(h.counts[1], (std::map<std::string, int64_t>{{"process.exec", 1}}));
  EXPECT_EQ(h.counts[2], (std::map<std::string, int64_t>{{"fw.drop", 1}, {"process.exec", 1}}));

  h = store_->histogram({.since = t0, .until = t0 + 15 * kMinute}, kMinute * 60, HistogramGroup::plugin);
  ASSERT_EQ(h.counts.size(), 1u);
  EXPECT_EQ(h.counts[0], (std::map<std::string, int64_t>{{"fw", 4}, {"mon", 2}}));

  h = store_->histogram({.since = t0, .until = t0 + 15 * kMinute, .kinds = {"process.exec"}}, 5 * kMinute,
                        HistogramGroup::kind);
  EXPECT_TRUE(h.counts[0].empty());
  EXPECT_EQ(h.counts[1].at("process.exec"), 1);
}

TEST_F(EventStoreTest, DataEqualitiesCompareTopLevelFieldsAsText) {
  const TimeNs t0 = 1'780'000'000 * kSecond;
  const KindId exec = store_->kind_id("mon", "process.exec");
  const KindId connect = store_->kind_id("mon", "net.connect");
  const std::vector<std::string> data = {
      R"({"exec_id":"b-1-2-3","pid":7,"ok":true,"nested":{"exec_id":"a-1-2-3"}})",
      R"({"exec_id":"a-1-2-3","pid":7,"ok":false})", R"({"exec_id":"a-1-2-3","pid":8,"ratio":1.5})",
      R"({"exec_id":"a-1-2-3","pid":"7"})", R"({"other":1})"};
  std::vector<NewEvent> events;
  for (size_t i = 0; i < data.size(); ++i)
    events.push_back({t0 + static_cast<TimeNs>(i), i % 2 ? connect : exec, data[i]});
  store_->append(events);
  auto ns_of = [&](const EventFilter& f) {
    std::vector<TimeNs> out;
    for (const Event& e : store_->query(f, std::nullopt, 100).events) out.push_back(e.ts - t0);
    return out;
  };
  // Newest first, across kinds; a nested field of the same name is not it.
  EXPECT_EQ(ns_of({.data = {{"exec_id", "a-1-2-3"}}}), (std::vector<TimeNs>{3, 2, 1}));
  EXPECT_EQ(ns_of({.data = {{"exec_id", "a-1-2-3"}, {"pid", "7"}}}),
            (std::vector<TimeNs>{3, 1}));  // 7 and "7"
  EXPECT_EQ(ns_of({.kinds = {"net.connect"}, .data = {{"exec_id", "a-1-2-3"}}}), (std::vector<TimeNs>{3, 1}));
  EXPECT_EQ(ns_of({.data = {{"ok", "1"}}}), (std::vector<TimeNs>{0}));
  EXPECT_EQ(ns_of({.data = {{"ok", "0"}}}), (std::vector<TimeNs>{1}));
  EXPECT_EQ(ns_of({.data = {{"ratio", "1.5"}}}), (std::vector<TimeNs>{2}));
  EXPECT_TRUE(ns_of({.data = {{"exec_id", "a-1-2"}}}).empty());
  EXPECT_TRUE(ns_of({.data = {{"missing", "1"}}}).empty());
  // Pages through the filtered events keep their cursor.
  const EventPage first = store_->query({.data = {{"exec_id", "a-1-2-3"}}}, std::nullopt, 2);
  ASSERT_TRUE(first.next);
  const EventPage second = store_->query({.data = {{"exec_id", "a-1-2-3"}}}, first.next, 2);
  ASSERT_EQ(second.events.size(), 1u);
  EXPECT_EQ(second.events[0].ts, t0 + 1);
  EXPECT_FALSE(second.next);

  // The stream's check in C++ agrees with SQLite's on every event.
  const std::vector<std::vector<DataEquality>> filters = {
      {{"exec_id", "a-1-2-3"}}, {{"pid", "7"}},   {{"ok", "1"}},     {{"ok", "0"}},
      {{"ratio", "1.5"}},       {{"other", "1"}}, {{"missing", "x"}}};
  for (const auto& f : filters) {
    const EventFilter filter{.data = f};
    std::vector<TimeNs> in_cpp;
    for (size_t i = data.size(); i-- > 0;)
      if (data_matches(filter, data[i])) in_cpp.push_back(static_cast<TimeNs>(i));
    EXPECT_EQ(in_cpp, ns_of(filter)) << f[0].key << "=" << f[0].value;
  }
  EXPECT_TRUE(data_matches({}, "not json"));
  EXPECT_FALSE(data_matches({.data = {{"a", "1"}}}, "not json"));
}

// A live stream checks data equalities in C++ (data_matches), a page in
// SQLite: every value below, written compact, with spaces and nested, is
// compared with every filter value both ways, and the two must agree (they
// did not on -0.0 and on integers past int64, which SQLite reads as reals).
TEST_F(EventStoreTest, StreamsAndPagesAgreeOnDataEqualitiesWhateverTheValueIsWrittenAs) {
  const TimeNs t0 = 1'780'000'000 * kSecond;
  const KindId kind = store_->kind_id("mon", "process.exec");
  const std::vector<std::string> values = {"7",
                                           "-7",
                                           "\"7\"",
                                           "70",
                                           "true",
                                           "false",
                                           "null",
                                           "0",
                                           "1",
                                           "1.5",
                                           "1e+20",
                                           "0.30000000000000004",
                                           "-0.0",
                                           "\"a b\"",
                                           "\"é\"",
                                           "\"\\\"q\\\"\"",
                                           "\"back\\\\slash\"",
                                           "\"1.0\"",
                                           "[1,2]",
                                           "{\"x\":1}",
                                           "\"[1,2]\"",
                                           "\"tab\\tx\"",
                                           "\"-\"",
                                           "18446744073709551615"};
  std::vector<std::string> data;
  std::vector<NewEvent> events;
  for (const std::string& v : values) {
    // Compact as adamd writes it, with spaces as another writer might, and
    // with the same key nested, which is not the field.
    for (const std::string& text :
         {R"({"k":)" + v + R"(,"o":1})", R"({ "o" : 1 , "k" : )" + v + " }", R"({"n":{"k":)" + v + R"(}})"}) {
      events.push_back({t0 + static_cast<TimeNs>(data.size()), kind, text});
      data.push_back(text);
    }
  }
  store_->append(events);
  const std::vector<std::string> filter_values = {"7",
                                                  "-7",
                                                  "70",
                                                  "1",
                                                  "0",
                                                  "true",
                                                  "false",
                                                  "null",
                                                  "1.5",
                                                  "1.0e+20",
                                                  "1e+20",
                                                  "0.3",
                                                  "0.30000000000000004",
                                                  "-0.0",
                                                  "0.0",
                                                  "a b",
                                                  "é",
                                                  "\"q\"",
                                                  "back\\slash",
                                                  "1.0",
                                                  "[1,2]",
                                                  "{\"x\":1}",
                                                  "tab\tx",
                                                  "-",
                                                  "1.84467440737096e+19",
                                                  "18446744073709551615"};
  size_t matched = 0;
  for (const std::string& value : filter_values) {
    const EventFilter filter{.data = {{"k", value}}};
    std::vector<TimeNs> in_cpp, in_store;
    for (size_t i = data.size(); i-- > 0;)
      if (data_matches(filter, data[i])) in_cpp.push_back(static_cast<TimeNs>(i));
    for (const Event& e : store_->query(filter, std::nullopt, 1000).events) in_store.push_back(e.ts - t0);
    EXPECT_EQ(in_store, in_cpp) << "data.k=" << value;
    matched += in_cpp.size();
  }
  EXPECT_GE(matched, 30u);  // the filters do find rows: the test is not comparing two empty lists
}

TEST_F(EventStoreTest, HistogramsCountOnlyTheEventsOfTheDataEqualities) {
  const TimeNs t0 = 1'780'000'000 * kSecond / (5 * kMinute) * (5 * kMinute);
  const KindId exec = store_->kind_id("mon", "process.exec");
  std::vector<NewEvent> events;
  // Whole minutes and partial ones: the per-minute counts cannot answer.
  for (int i = 0; i < 12; ++i)
    events.push_back(
        {t0 + i * kMinute + 10 * kSecond, exec, i % 3 ? R"({"comm":"sh"})" : R"({"comm":"cat"})"});
  store_->append(events);
  const Histogram h = store_->histogram({.since = t0, .until = t0 + 15 * kMinute, .data = {{"comm", "cat"}}},
                                        5 * kMinute, HistogramGroup::kind);
  ASSERT_EQ(h.counts.size(), 3u);
  EXPECT_EQ(h.counts[0], (std::map<std::string, int64_t>{{"process.exec", 2}}));  // minutes 0 and 3
  EXPECT_EQ(h.counts[1], (std::map<std::string, int64_t>{{"process.exec", 2}}));  // 6 and 9
  EXPECT_TRUE(h.counts[2].empty());
  const Histogram all =
      store_->histogram({.since = t0, .until = t0 + 15 * kMinute}, 5 * kMinute, HistogramGroup::kind);
  EXPECT_EQ(all.counts[0].at("process.exec"), 5);
}

}  // namespace
}  // namespace adam
