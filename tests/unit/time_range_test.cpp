// Spans (last=) and instants (since=/until=) as the events API reads them.
#include "core/time_range.h"

#include <gtest/gtest.h>

namespace adam {
namespace {

TimeNs at(const char* rfc3339) { return parse_instant(rfc3339); }

TEST(TimeRange, SpansOfEveryUnit) {
  const TimeNs now = at("2026-05-31T12:00:00Z");
  EXPECT_EQ(span_start(parse_span("90m"), now), at("2026-05-31T10:30:00Z"));
  EXPECT_EQ(span_start(parse_span("24h"), now), at("2026-05-30T12:00:00Z"));
  EXPECT_EQ(span_start(parse_span("7d"), now), at("2026-05-24T12:00:00Z"));
  EXPECT_EQ(span_start(parse_span("2w"), now), at("2026-05-17T12:00:00Z"));
  EXPECT_EQ(span_start(parse_span("1mo"), now), at("2026-04-30T12:00:00Z"));
  EXPECT_EQ(span_start(parse_span("1y"), now), at("2025-05-31T12:00:00Z"));
}

TEST(TimeRange, MonthsAndYearsAreCalendarMonthsClampedToTheMonthsEnd) {
  EXPECT_EQ(span_start(parse_span("3mo"), at("2026-05-31T12:00:00Z")), at("2026-02-28T12:00:00Z"));
  EXPECT_EQ(span_start(parse_span("1mo"), at("2026-03-31T00:00:00Z")), at("2026-02-28T00:00:00Z"));
  EXPECT_EQ(span_start(parse_span("1mo"), at("2024-03-30T08:15:00Z")), at("2024-02-29T08:15:00Z"));
  EXPECT_EQ(span_start(parse_span("1y"), at("2024-02-29T23:59:59.5Z")), at("2023-02-28T23:59:59.5Z"));
  EXPECT_EQ(span_start(parse_span("13mo"), at("2026-01-15T06:00:00Z")), at("2024-12-15T06:00:00Z"));
  EXPECT_EQ(span_start(parse_span("12mo"), at("2026-01-15T06:00:00Z")),
            span_start(parse_span("1y"), at("2026-01-15T06:00:00Z")));
}

TEST(TimeRange, SpansNeverReachBeforeTheEpoch) {
  EXPECT_EQ(span_start(parse_span("1000y"), at("2026-01-01T00:00:00Z")), 0);
  EXPECT_EQ(span_start(parse_span("100000w"), at("2026-01-01T00:00:00Z")), 0);
  EXPECT_EQ(span_start(parse_span("40000y"), at("2026-01-01T00:00:00Z")), 0);  // past std::chrono::year
  EXPECT_EQ(span_start(parse_span("500000mo"), at("2026-01-01T00:00:00Z")), 0);
}

TEST(TimeRange, BadSpansAreRefusedWithTheReason) {
  for (const char* bad : {"5x", "-1h", "0h", "h", "", "1.5h", "24", "24H", "3 d", "1m0", "99999999d", "mo"}) {
    EXPECT_THROW(parse_span(bad), std::invalid_argument) << bad;
  }
  try {
    parse_span("5x");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown unit 'x'"), std::string::npos) << e.what();
  }
}

TEST(TimeRange, Rfc3339FormsAndEpochSeconds) {
  EXPECT_EQ(at("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(at("2026-05-31T12:00:00Z"), 1'780'228'800LL * 1'000'000'000);
  EXPECT_EQ(at("2026-05-31T14:00:00+02:00"), at("2026-05-31T12:00:00Z"));
  EXPECT_EQ(at("2026-05-31T07:30:00-04:30"), at("2026-05-31T12:00:00Z"));
  EXPECT_EQ(at("2026-05-31t12:00:00z"), at("2026-05-31T12:00:00Z"));
  EXPECT_EQ(at("2026-05-31 12:00:00Z"), at("2026-05-31T12:00:00Z"));
  EXPECT_EQ(at("2026-05-31T12:00:00.25Z"), at("2026-05-31T12:00:00Z") + 250'000'000);
  EXPECT_EQ(at("2026-05-31T12:00:00.123456789Z"), at("2026-05-31T12:00:00Z") + 123'456'789);
  EXPECT_EQ(at("1780228800"), at("2026-05-31T12:00:00Z"));
  EXPECT_EQ(at("1780228800.5"), at("2026-05-31T12:00:00Z") + 500'000'000);
}

TEST(TimeRange, BadInstantsAreRefused) {
  for (const char* bad :
       {"", "yesterday", "2026-05-31", "2026-05-31T12:00:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-05-31T25:00:00Z", "2026-05-31T12:00:00+2:00", "2026-05-31T12:00:00Zjunk", "-5", "12abc",
        "1780228800.", "1969-12-31T23:59:59Z", "4052-05-31T14:00:00Z", "99999999999999"}) {
    EXPECT_THROW(parse_instant(bad), std::invalid_argument) << bad;
  }
}

TEST(TimeRange, FormatsRfc3339InUtc) {
  EXPECT_EQ(format_rfc3339(at("2026-05-31T14:00:00+02:00")), "2026-05-31T12:00:00Z");
  EXPECT_EQ(format_rfc3339(at("2026-05-31T12:00:00.000000001Z")), "2026-05-31T12:00:00.000000001Z");
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace adam
