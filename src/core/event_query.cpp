#include "core/event_query.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "core/errors.h"

namespace adam {

namespace {

const std::string* single(const QueryParams& params, const std::string& name) {
  const auto [first, last] = params.equal_range(name);
  if (first == last) return nullptr;
  if (std::next(first) != last) throw bad_request(name, fmt::format("'{}' may be given only once", name));
  return &first->second;
}

constexpr std::string_view kDataPrefix = "data.";

bool is_data_param(const std::string& name) { return name.starts_with(kDataPrefix); }

// Every parameter is known or a data equality (data.KEY).
void reject_unknown(const QueryParams& params, const std::set<std::string>& known) {
  for (const auto& [name, value] : params) {
    if (known.count(name) || is_data_param(name)) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw bad_request(name, fmt::format("unknown parameter '{}' (known: {}, data.KEY)", name, list));
  }
}

// data.KEY=VALUE: at most kMaxDataEqualities, each key once.
std::vector<DataEquality> data_equalities(const QueryParams& params) {
  std::vector<DataEquality> out;
  for (const auto& [name, value] : params) {
    if (!is_data_param(name)) continue;
    const std::string key = name.substr(kDataPrefix.size());
    if (key.empty() || key.size() > 64 ||
        !std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; }))
      throw bad_request(name, "a data field's name is 1 to 64 letters, digits or _ (data.KEY=VALUE)");
    if (value.empty()) throw bad_request(name, fmt::format("'{}' must not be empty", name));
    if (std::any_of(out.begin(), out.end(), [&](const DataEquality& eq) { return eq.key == key; }))
      throw bad_request(name, fmt::format("'{}' may be given only once", name));
    if (out.size() == kMaxDataEqualities)
      throw bad_request(name, fmt::format("at most {} data.KEY parameters", kMaxDataEqualities));
    out.push_back({key, value});
  }
  return out;
}

std::vector<std::string> all(const QueryParams& params, const std::string& name) {
  std::vector<std::string> out;
  const auto [first, last] = params.equal_range(name);
  for (auto it = first; it != last; ++it) {
    if (it->second.empty()) throw bad_request(name, fmt::format("'{}' must not be empty", name));
    out.push_back(it->second);
  }
  return out;
}

TimeNs instant(const std::string& name, const std::string& text) {
  try {
    return parse_instant(text);
  } catch (const std::invalid_argument& e) {
    throw bad_request(name, e.what());
  }
}

// last=, or since=/until=; the range and plugin/kind filters.
void parse_filter(const QueryParams& params, TimeNs now, EventQuery& q) {
  const std::string* last = single(params, "last");
  const std::string* since = single(params, "since");
  const std::string* until = single(params, "until");
  if (last && (since || until)) throw bad_request("last", "give either last= or since=/until=, not both");
  if (last) {
    try {
      q.filter.since = span_start(parse_span(*last), now);
    } catch (const std::invalid_argument& e) {
      throw bad_request("last", e.what());
    }
    q.filter.until = now + 1;  // up to and including now
  }
  if (since) q.filter.since = instant("since", *since);
  if (until) q.filter.until = instant("until", *until);
  if (q.filter.since > q.filter.until) throw bad_request("since", "since is after until");
  q.has_range = last || since || until;
  q.filter.plugins = all(params, "plugin");
  q.filter.kinds = all(params, "kind");
  q.filter.data = data_equalities(params);
}

void parse_limit(const QueryParams& params, EventQuery& q) {
  const std::string* text = single(params, "limit");
  if (!text) return;
  int limit = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
  if (ec != std::errc() || ptr != text->data() + text->size() || limit < 1 || limit > kMaxEventLimit)
    throw bad_request("limit", fmt::format("limit must be a whole number from 1 to {}", kMaxEventLimit));
  q.limit = limit;
}

}  // namespace

EventQuery parse_event_query(const QueryParams& params, TimeNs now) {
  reject_unknown(params, {"last", "since", "until", "plugin", "kind", "limit", "cursor"});
  EventQuery q;
  parse_filter(params, now, q);
  parse_limit(params, q);
  if (const std::string* cursor = single(params, "cursor")) {
    q.cursor = EventCursor::decode(*cursor);
    if (!q.cursor)
      throw bad_request("cursor", "malformed cursor: pass next_cursor of the previous page as it is");
  }
  return q;
}

HistogramQuery parse_histogram_query(const QueryParams& params, TimeNs now) {
  reject_unknown(params, {"last", "since", "until", "plugin", "kind", "bucket", "group"});
  EventQuery range;
  parse_filter(params, now, range);
  if (!range.has_range) {
    range.filter.since = span_start(Span{24, SpanUnit::hour}, now);
    range.filter.until = now + 1;
  }
  HistogramQuery h;
  h.filter = range.filter;
  if (const std::string* bucket = single(params, "bucket")) h.bucket = *bucket;
  auto it = std::find_if(std::begin(kHistogramBuckets), std::end(kHistogramBuckets),
                         [&](const HistogramBucket& b) { return b.name == h.bucket; });
  if (it == std::end(kHistogramBuckets))
    throw bad_request("bucket", "bucket must be 1m, 5m, 10m, 15m, 30m, 1h, 2h, 6h, 12h or 1d");
  h.bucket_ns = it->ns;
  if (const std::string* group = single(params, "group")) {
    if (*group == "kind")
      h.group = HistogramGroup::kind;
    else if (*group == "plugin")
      h.group = HistogramGroup::plugin;
    else
      throw bad_request("group", "group must be kind or plugin");
  }
  const TimeNs until = h.filter.until == std::numeric_limits<TimeNs>::max() ? now : h.filter.until;
  if ((until - h.filter.since) / h.bucket_ns >= static_cast<TimeNs>(kMaxHistogramBuckets))
    throw bad_request("bucket", fmt::format("more than {} buckets: pick a larger bucket or a shorter range",
                                            kMaxHistogramBuckets));
  return h;
}

EventQuery parse_stream_query(const QueryParams& params, TimeNs now) {
  reject_unknown(params, {"last", "since", "plugin", "kind", "limit"});
  EventQuery q;
  parse_filter(params, now, q);
  parse_limit(params, q);
  return q;
}

std::string to_query_string(const QueryParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    out += out.empty() ? "" : "&";
    for (const std::string* part : {&name, &value}) {
      for (unsigned char c : *part) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':')
          out.push_back(static_cast<char>(c));
        else
          out += fmt::format("%{:02X}", c);
      }
      if (part == &name) out.push_back('=');
    }
  }
  return out;
}

}  // namespace adam
