#pragma once
// The query parameters of the events routes (GET /api/v1/events,
// /events/histogram, /events/stream), parsed and checked: bad input is an
// ApiError 400 naming the parameter.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "store/event_store.h"

namespace adam {

using QueryParams = std::multimap<std::string, std::string>;

constexpr int kDefaultEventLimit = 100;
constexpr int kMaxEventLimit = 10'000;
constexpr size_t kMaxHistogramBuckets = 10'000;
constexpr size_t kMaxDataEqualities = 4;  // data.KEY=VALUE parameters of one query

struct EventQuery {
  EventFilter filter;
  int limit = kDefaultEventLimit;
  std::optional<EventCursor> cursor;
  bool has_range = false;  // last, since or until was given
};

// The histogram's bucket sizes (bucket=), smallest first: a page picks the
// smallest that splits its range into at most ~120 bars.
struct HistogramBucket {
  std::string_view name;
  TimeNs ns;
};
inline constexpr HistogramBucket kHistogramBuckets[] = {
    {"1m", 60'000'000'000},    {"5m", 300'000'000'000},    {"10m", 600'000'000'000},
    {"15m", 900'000'000'000},  {"30m", 1'800'000'000'000}, {"1h", 3'600'000'000'000},
    {"2h", 7'200'000'000'000}, {"6h", 21'600'000'000'000}, {"12h", 43'200'000'000'000},
    {"1d", 86'400'000'000'000}};

struct HistogramQuery {
  EventFilter filter;
  std::string bucket = "5m";
  TimeNs bucket_ns = 0;
  HistogramGroup group = HistogramGroup::kind;
};

// last=, since=, until=, plugin=, kind= (repeatable), limit=, cursor=;
// data.KEY=VALUE (each KEY once, at most kMaxDataEqualities; every query below too).
// `now` is injected so tests can pin it.
EventQuery parse_event_query(const QueryParams& params, TimeNs now);
// last=/since=/until= (default last=24h), plugin=, kind=, bucket=1m|5m|1h|1d, group=kind|plugin.
HistogramQuery parse_histogram_query(const QueryParams& params, TimeNs now);
// The stream's filters: plugin=, kind=, and last=/since= with limit= for the
// stored events sent before the live ones (until= makes no sense live).
EventQuery parse_stream_query(const QueryParams& params, TimeNs now);

// Back to a query string ("a=1&b=x%20y"), for links.
std::string to_query_string(const QueryParams& params);

}  // namespace adam
