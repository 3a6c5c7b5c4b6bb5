#pragma once
// Time as the events API speaks it: instants in ns since the epoch (UTC),
// relative spans ("90m", "24h", "7d", "2w", "3mo", "1y") and absolute
// instants (RFC 3339 or epoch seconds).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace adam {

using TimeNs = int64_t;  // ns since 1970-01-01T00:00:00Z

TimeNs now_ns();

enum class SpanUnit { minute, hour, day, week, month, year };

// A span back from now. Minutes to weeks are fixed lengths; months and years
// are calendar months and years (3mo back from 2026-05-31 is 2026-02-28).
struct Span {
  int64_t count = 0;  // > 0
  SpanUnit unit = SpanUnit::day;
};

// Throws std::invalid_argument saying what is wrong with `text`.
Span parse_span(std::string_view text);
// The instant `span` before `now`; never before the epoch.
TimeNs span_start(const Span& span, TimeNs now);

// RFC 3339 ("2026-05-31T12:00:00Z", "2026-05-31T14:00:00.5+02:00") or epoch
// seconds ("1780000000", "1780000000.25"). Throws std::invalid_argument.
TimeNs parse_instant(std::string_view text);
// "2026-05-31T12:00:00.000000001Z" (fraction only when not zero).
std::string format_rfc3339(TimeNs t);
// A datetime-local input's value ("2026-12-01T10:30", with seconds or not),
// which the console's forms state is UTC, as RFC 3339 for the API; "" and
// text already ending in Z as they are.
std::string utc_datetime_local(const std::string& local);

}  // namespace adam
