#include "core/time_range.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <limits>

namespace adam {

namespace {

using namespace std::chrono;

constexpr int64_t kNsPerSecond = 1'000'000'000;

// Reads exactly `width` digits at `pos`.
bool read_digits(std::string_view text, size_t& pos, size_t width, int& out) {
  if (pos + width > text.size()) return false;
  out = 0;
  for (size_t i = 0; i < width; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += width;
  return true;
}

bool expect(std::string_view text, size_t& pos, std::string_view chars) {
  if (pos >= text.size() || chars.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

// Digits after a decimal point as nanoseconds (beyond 9 digits ignored).
bool read_fraction(std::string_view text, size_t& pos, int64_t& ns) {
  const size_t start = pos;
  ns = 0;
  int64_t scale = kNsPerSecond / 10;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    ns += (text[pos] - '0') * scale;
    scale /= 10;
    ++pos;
  }
  return pos > start;
}

std::invalid_argument bad_instant(std::string_view text) {
  return std::invalid_argument(
      fmt::format("'{}' is not a time: expected RFC 3339 (2026-05-31T12:00:00Z) or epoch seconds", text));
}

TimeNs parse_epoch_seconds(std::string_view text) {
  int64_t seconds = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, seconds);
  if (ec != std::errc() || seconds < 0 || seconds > std::numeric_limits<int64_t>::max() / kNsPerSecond)
    throw bad_instant(text);
  int64_t fraction = 0;
  size_t pos = static_cast<size_t>(ptr - text.data());
  if (pos < text.size()) {
    if (text[pos] != '.') throw bad_instant(text);
    ++pos;
    if (!read_fraction(text, pos, fraction) || pos != text.size()) throw bad_instant(text);
  }
  return seconds * kNsPerSecond + fraction;
}

TimeNs parse_rfc3339(std::string_view text) {
  size_t pos = 0;
  int y, mo, d, h, mi, s;
  if (!read_digits(text, pos, 4, y) || !expect(text, pos, "-") || !read_digits(text, pos, 2, mo) ||
      !expect(text, pos, "-") || !read_digits(text, pos, 2, d) || !expect(text, pos, "Tt ") ||
      !read_digits(text, pos, 2, h) || !expect(text, pos, ":") || !read_digits(text, pos, 2, mi) ||
      !expect(text, pos, ":") || !read_digits(text, pos, 2, s))
    throw bad_instant(text);
  int64_t fraction = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    if (!read_fraction(text, pos, fraction)) throw bad_instant(text);
  }
  int64_t offset_s = 0;
  if (expect(text, pos, "Zz")) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!read_digits(text, pos, 2, oh) || !expect(text, pos, ":") || !read_digits(text, pos, 2, om) ||
        oh > 23 || om > 59)
      throw bad_instant(text);
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    throw bad_instant(text);
  }
  if (pos != text.size()) throw bad_instant(text);
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || s > 60) throw bad_instant(text);
  const int64_t seconds =
      sys_days(date).time_since_epoch().count() * 86400 + h * 3600 + mi * 60 + s - offset_s;
  if (seconds < 0) throw std::invalid_argument(fmt::format("'{}' is before 1970", text));
  // Nanoseconds since 1970 end in 2262 (found by time_query_fuzz: an overflow).
  if (seconds >= std::numeric_limits<int64_t>::max() / kNsPerSecond)
    throw std::invalid_argument(fmt::format("'{}' is after 2262, past what adamd's clock counts", text));
  return seconds * kNsPerSecond + fraction;
}

}  // namespace

TimeNs now_ns() { return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count(); }

Span parse_span(std::string_view text) {
  const auto fail = [&](const std::string& why) {
    return std::invalid_argument(
        fmt::format("'{}' is not a span: {} (e.g. 90m, 24h, 7d, 2w, 3mo, 1y)", text, why));
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) throw fail("it must start with a positive whole number");
  Span span;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, span.count);
  if (ec != std::errc() || span.count > 1'000'000) throw fail("the number is too large");
  if (span.count == 0) throw fail("it must be longer than zero");
  const std::string_view unit = text.substr(digits);
  if (unit == "m")
    span.unit = SpanUnit::minute;
  else if (unit == "h")
    span.unit = SpanUnit::hour;
  else if (unit == "d")
    span.unit = SpanUnit::day;
  else if (unit == "w")
    span.unit = SpanUnit::week;
  else if (unit == "mo")
    span.unit = SpanUnit::month;
  else if (unit == "y")
    span.unit = SpanUnit::year;
  else
    throw fail(unit.empty() ? "the unit is missing" : fmt::format("unknown unit '{}'", unit));
  return span;
}

TimeNs span_start(const Span& span, TimeNs now) {
  int64_t fixed_seconds = 0;
  switch (span.unit) {
    case SpanUnit::minute:
      fixed_seconds = 60;
      break;
    case SpanUnit::hour:
      fixed_seconds = 3600;
      break;
    case SpanUnit::day:
      fixed_seconds = 86400;
      break;
    case SpanUnit::week:
      fixed_seconds = 7 * 86400;
      break;
    case SpanUnit::month:
    case SpanUnit::year: {
      // Calendar arithmetic on the UTC date; the time of day is kept and a
      // day that the target month lacks becomes its last day.
      const sys_days today = floor<days>(sys_time<nanoseconds>(nanoseconds(now)));
      const nanoseconds time_of_day = nanoseconds(now) - today.time_since_epoch();
      const year_month_day ymd(today);
      // Back before 1970 is 0; checked first, since a year past the range
      // of std::chrono::year wraps (time_query_fuzz: "40000y").
      const int64_t years_since_1970 = static_cast<int>(ymd.year()) - 1970;
      if (span.count > (span.unit == SpanUnit::month ? 12 * years_since_1970 + 12 : years_since_1970 + 1))
        return 0;
      const months back{span.unit == SpanUnit::month ? span.count : span.count * 12};
      const year_month target = year_month(ymd.year(), ymd.month()) - back;
      if (target.year() < year{1970}) return 0;  // also keeps the ns count from overflowing
      year_month_day result(target.year(), target.month(), ymd.day());
      if (!result.ok()) result = year_month_day_last(target.year(), month_day_last(target.month()));
      return (sys_days(result).time_since_epoch() + time_of_day).count();
    }
  }
  const int64_t unit_ns = fixed_seconds * kNsPerSecond;
  if (span.count >= now / unit_ns + 1) return 0;  // also keeps count * unit_ns from overflowing
  return now - span.count * unit_ns;
}

TimeNs parse_instant(std::string_view text) {
  if (text.empty()) throw bad_instant(text);
  const bool looks_like_date = text.size() > 4 && text[4] == '-';
  return looks_like_date ? parse_rfc3339(text) : parse_epoch_seconds(text);
}

std::string format_rfc3339(TimeNs t) {
  const sys_time<nanoseconds> tp{nanoseconds(t)};
  const sys_days day_start = floor<days>(tp);
  const year_month_day ymd(day_start);
  const hh_mm_ss<nanoseconds> tod(tp - day_start);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                                tod.hours().count(), tod.minutes().count(), tod.seconds().count());
  if (tod.subseconds().count() != 0) out += fmt::format(".{:09}", tod.subseconds().count());
  return out + "Z";
}

std::string utc_datetime_local(const std::string& local) {
  if (local.empty() || local.back() == 'Z') return local;
  return local + (local.size() == 16 ? ":00Z" : "Z");
}

}  // namespace adam
