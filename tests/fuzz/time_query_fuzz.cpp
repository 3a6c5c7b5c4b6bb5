// The events routes' query parameters: the input is a query string, parsed
// as the router does (parse_urlencoded) and given to each of the three
// query parsers; every value is also tried as a span, an instant and a
// cursor. What must hold:
// - a refusal is an ApiError 400 naming a parameter of the query (or "body"
//   for text that is no query string), never another exception;
// - an accepted query has since <= until, a limit in 1..kMaxEventLimit, a
//   histogram of at most kMaxHistogramBuckets buckets;
// - an instant, a span's start and a cursor that parse come back the same
//   through their text (format_rfc3339, EventCursor::encode), and a query
//   string comes back the same through to_query_string.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "api/router.h"
#include "core/errors.h"
#include "core/event_query.h"
#include "core/time_range.h"
#include "fuzz_check.h"

namespace {

constexpr adam::TimeNs kNow = 1'780'000'000'123'456'789;  // 2026-05-28, fixed so runs repeat

void check_refusal(const adam::ApiError& e, const adam::QueryParams& params) {
  FUZZ_CHECK(e.status() == 400, std::to_string(e.status()) + " " + e.what());
  // "bucket" also when not given: the default bucket makes too many bars.
  FUZZ_CHECK(params.count(e.field()) > 0 || e.field() == "bucket" || e.field() == "body",
             "the refusal names '" + e.field() + "', no parameter of the query: " + e.what());
}

void check_filter(const adam::EventFilter& f) {
  FUZZ_CHECK(f.since >= 0 && f.since <= f.until,
             "since " + std::to_string(f.since) + " until " + std::to_string(f.until));
}

template <typename Parse>
void try_query(const adam::QueryParams& params, Parse parse) {
  try {
    parse(params);
  } catch (const adam::ApiError& e) {
    check_refusal(e, params);
  }
}

void check_value(std::string_view text) {
  try {
    const adam::TimeNs t = adam::parse_instant(text);
    FUZZ_CHECK(t >= 0, std::string(text));
    const std::string shown = adam::format_rfc3339(t);
    FUZZ_CHECK(adam::parse_instant(shown) == t, std::string(text) + " -> " + shown);
  } catch (const std::invalid_argument&) {
  }
  try {
    const adam::Span span = adam::parse_span(text);
    const adam::TimeNs start = adam::span_start(span, kNow);
    FUZZ_CHECK(start >= 0 && start < kNow, std::string(text) + " starts at " + std::to_string(start));
  } catch (const std::invalid_argument&) {
  }
  if (const auto cursor = adam::EventCursor::decode(text)) {
    const auto again = adam::EventCursor::decode(cursor->encode());
    FUZZ_CHECK(again && again->ts == cursor->ts && again->id == cursor->id, std::string(text));
  }
  (void)adam::utc_datetime_local(std::string(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  adam::QueryParams params;
  try {
    for (auto& [k, v] : adam::parse_urlencoded(text)) params.emplace(std::move(k), std::move(v));
  } catch (const adam::ApiError& e) {
    FUZZ_CHECK(e.status() == 400, e.what());
    return 0;
  }
  for (const auto& [name, value] : params) check_value(value);

  try_query(params, [](const adam::QueryParams& p) {
    const adam::EventQuery q = adam::parse_event_query(p, kNow);
    check_filter(q.filter);
    FUZZ_CHECK(q.limit >= 1 && q.limit <= adam::kMaxEventLimit, std::to_string(q.limit));
    FUZZ_CHECK(q.filter.data.size() <= adam::kMaxDataEqualities, "data equalities");
  });
  try_query(params, [](const adam::QueryParams& p) {
    const adam::HistogramQuery h = adam::parse_histogram_query(p, kNow);
    check_filter(h.filter);
    FUZZ_CHECK(h.bucket_ns > 0, h.bucket);
    const adam::TimeNs until = std::min(h.filter.until, kNow);
    FUZZ_CHECK((until - h.filter.since) / h.bucket_ns < static_cast<adam::TimeNs>(adam::kMaxHistogramBuckets),
               "too many buckets accepted");
  });
  try_query(params, [](const adam::QueryParams& p) {
    const adam::EventQuery q = adam::parse_stream_query(p, kNow);
    check_filter(q.filter);
  });

  // Links carry a query on: it must read back as the same parameters.
  adam::QueryParams again;
  for (auto& [k, v] : adam::parse_urlencoded(adam::to_query_string(params))) again.emplace(k, v);
  FUZZ_CHECK(again == params, "to_query_string does not read back as the same parameters");
  return 0;
}
