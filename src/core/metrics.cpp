#include "core/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace adam {

namespace {
std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}
}  // namespace

void MetricsWriter::family(const std::string& name, const std::string& type, const std::string& help) {
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void MetricsWriter::sample(const std::string& name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += fmt::format("{}=\"{}\"", labels[i].first, escape_label(labels[i].second));
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void HttpMetrics::observe(const std::string& method, const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{method, route, status}];
  Histogram& h = latency_[{method, route}];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void HttpMetrics::write(MetricsWriter& w) const {
  std::lock_guard lock(mu_);
  w.family("adamd_http_requests_total", "counter", "HTTP requests answered, by method, route and status.");
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    w.sample("adamd_http_requests_total",
             {{"method", method}, {"route", route}, {"status", std::to_string(status)}},
             static_cast<double>(n));
  }
  w.family("adamd_http_request_duration_seconds", "histogram", "Time to answer an HTTP request.");
  for (const auto& [key, h] : latency_) {
    const auto& [method, route] = key;
    for (size_t i = 0; i < kBuckets.size(); ++i)
      w.sample("adamd_http_request_duration_seconds_bucket",
               {{"method", method}, {"route", route}, {"le", format_value(kBuckets[i])}},
               static_cast<double>(h.buckets[i]));
    w.sample("adamd_http_request_duration_seconds_bucket",
             {{"method", method}, {"route", route}, {"le", "+Inf"}}, static_cast<double>(h.count));
    w.sample("adamd_http_request_duration_seconds_sum", {{"method", method}, {"route", route}}, h.sum);
    w.sample("adamd_http_request_duration_seconds_count", {{"method", method}, {"route", route}},
             static_cast<double>(h.count));
  }
}

}  // namespace adam
