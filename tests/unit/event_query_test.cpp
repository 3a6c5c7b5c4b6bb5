// The events routes' parameters: every form, and bad input refused with a
// 400 naming the parameter.
#include "core/event_query.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace adam {
namespace {

const TimeNs kNow = parse_instant("2026-05-31T12:00:00Z");

void expect_bad(const QueryParams& params, const std::string& field) {
  try {
    parse_event_query(params, kNow);
    ADD_FAILURE() << "accepted; expected a 400 naming " << field;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_FALSE(std::string(e.what()).empty());
  }
}

TEST(EventQuery, DefaultsToEverythingNewestHundred) {
  const EventQuery q = parse_event_query({}, kNow);
  EXPECT_EQ(q.filter.since, 0);
  EXPECT_EQ(q.limit, 100);
  EXPECT_FALSE(q.cursor);
  EXPECT_TRUE(q.filter.kinds.empty());
}

TEST(EventQuery, LastSinceUntilPluginKindsLimitCursor) {
  EventQuery q =
      parse_event_query({{"last", "24h"}, {"kind", "a.x"}, {"kind", "b.y"}, {"plugin", "fw"}}, kNow);
  EXPECT_EQ(q.filter.since, kNow - 24LL * 3600 * 1'000'000'000);
  EXPECT_GT(q.filter.until, kNow);
  EXPECT_EQ(q.filter.kinds, (std::vector<std::string>{"a.x", "b.y"}));
  EXPECT_EQ(q.filter.plugins, (std::vector<std::string>{"fw"}));

  q = parse_event_query({{"since", "2026-05-01T00:00:00Z"}, {"until", "1780228800"}, {"limit", "10000"}},
                        kNow);
  EXPECT_EQ(q.filter.since, parse_instant("2026-05-01T00:00:00Z"));
  EXPECT_EQ(q.filter.until, kNow);
  EXPECT_EQ(q.limit, 10000);

  const EventCursor c{kNow, 42};
  q = parse_event_query({{"cursor", c.encode()}, {"limit", "1"}}, kNow);
  ASSERT_TRUE(q.cursor);
  EXPECT_EQ(q.cursor->ts, kNow);
  EXPECT_EQ(q.cursor->id, 42);
}

TEST(EventQuery, BadInputNamesTheParameter) {
  expect_bad({{"last", "5x"}}, "last");
  expect_bad({{"last", "-1h"}}, "last");
  expect_bad({{"last", "0d"}}, "last");
  expect_bad({{"last", "24h"}, {"since", "1780000000"}}, "last");
  expect_bad({{"last", "24h"}, {"last", "1h"}}, "last");
  expect_bad({{"since", "2026-05-31T12:00:00Z"}, {"until", "2026-05-30T12:00:00Z"}}, "since");
  expect_bad({{"since", "tomorrow"}}, "since");
  expect_bad({{"until", "2026-02-30T00:00:00Z"}}, "until");
  expect_bad({{"cursor", "zz"}}, "cursor");
  expect_bad({{"cursor", "1"}}, "cursor");
  expect_bad({{"cursor", "1.2.3"}}, "cursor");
  expect_bad({{"cursor", ""}}, "cursor");
  expect_bad({{"limit", "0"}}, "limit");
  expect_bad({{"limit", "100000"}}, "limit");
  expect_bad({{"limit", "10001"}}, "limit");
  expect_bad({{"limit", "ten"}}, "limit");
  expect_bad({{"kind", ""}}, "kind");
  expect_bad({{"kinds", "a"}}, "kinds");
}

TEST(EventQuery, DataEqualitiesOnEveryQuery) {
  const EventQuery q = parse_event_query({{"data.exec_id", "abc-1-2-3"}, {"data.uid", "0"}}, kNow);
  EXPECT_EQ(q.filter.data, (std::vector<DataEquality>{{"exec_id", "abc-1-2-3"}, {"uid", "0"}}));
  EXPECT_EQ(parse_histogram_query({{"data.comm", "sh"}}, kNow).filter.data,
            (std::vector<DataEquality>{{"comm", "sh"}}));
  EXPECT_EQ(parse_stream_query({{"data.Dport_6", "80"}}, kNow).filter.data,
            (std::vector<DataEquality>{{"Dport_6", "80"}}));
  EXPECT_TRUE(parse_event_query({{"kind", "x"}}, kNow).filter.data.empty());
}

TEST(EventQuery, BadDataEqualitiesNameTheParameter) {
  expect_bad({{"data.", "1"}}, "data.");
  expect_bad({{"data.a-b", "1"}}, "data.a-b");
  expect_bad({{"data.a.b", "1"}}, "data.a.b");
  expect_bad({{"data.$", "1"}}, "data.$");
  expect_bad({{"data." + std::string(65, 'k'), "1"}}, "data." + std::string(65, 'k'));
  expect_bad({{"data.pid", ""}}, "data.pid");
  expect_bad({{"data.pid", "1"}, {"data.pid", "2"}}, "data.pid");
  expect_bad({{"data.a", "1"}, {"data.b", "1"}, {"data.c", "1"}, {"data.d", "1"}, {"data.e", "1"}}, "data.e");
  EXPECT_EQ(parse_event_query({{"data." + std::string(64, 'k'), "1"}}, kNow).filter.data.size(), 1u);
}

TEST(EventQuery, HistogramBucketsAndGroups) {
  HistogramQuery h = parse_histogram_query({}, kNow);
  EXPECT_EQ(h.bucket, "5m");
  EXPECT_EQ(h.bucket_ns, 300'000'000'000);
  EXPECT_EQ(h.group, HistogramGroup::kind);
  EXPECT_EQ(h.filter.since, kNow - 24LL * 3600 * 1'000'000'000);  // last=24h by default
  h = parse_histogram_query({{"last", "7d"}, {"bucket", "1h"}, {"group", "plugin"}}, kNow);
  EXPECT_EQ(h.bucket_ns, 3'600'000'000'000);
  EXPECT_EQ(h.group, HistogramGroup::plugin);
  EXPECT_EQ(parse_histogram_query({{"bucket", "1m"}}, kNow).bucket_ns, 60'000'000'000);
  EXPECT_EQ(parse_histogram_query({{"bucket", "1d"}, {"last", "1y"}}, kNow).bucket_ns, 86'400'000'000'000);

  auto field_of = [](const QueryParams& p) {
    try {
      parse_histogram_query(p, kNow);
    } catch (const ApiError& e) {
      return e.field();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(field_of({{"bucket", "2m"}}), "bucket");
  EXPECT_EQ(field_of({{"group", "machine"}}), "group");
  EXPECT_EQ(field_of({{"last", "1y"}, {"bucket", "1m"}}), "bucket");  // too many buckets
  EXPECT_EQ(field_of({{"last", "5x"}}), "last");
  EXPECT_EQ(field_of({{"limit", "5"}}), "limit");
}

TEST(EventQuery, StreamTakesNoUntil) {
  const EventQuery q = parse_stream_query({{"last", "1h"}, {"kind", "api.change"}}, kNow);
  EXPECT_TRUE(q.has_range);
  EXPECT_THROW(parse_stream_query({{"until", "1780000000"}}, kNow), ApiError);
  EXPECT_FALSE(parse_stream_query({{"kind", "x"}}, kNow).has_range);
}

TEST(EventQuery, QueryStringsRoundTripTheirValues) {
  EXPECT_EQ(to_query_string({{"kind", "a b"}, {"last", "24h"}, {"since", "2026-05-31T12:00:00+02:00"}}),
            "kind=a%20b&last=24h&since=2026-05-31T12:00:00%2B02:00");
}

}  // namespace
}  // namespace adam
