#pragma once
// Prometheus text exposition (format 0.0.4). Debian ships no C++ Prometheus
// client, so adamd keeps its few metric families here: a writer for the text
// format and the HTTP request counters/latency histogram it fills itself.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace adam {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Appends families to a text exposition; each family's HELP/TYPE once.
class MetricsWriter {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help);
  void sample(const std::string& name, const Labels& labels, double value);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

class HttpMetrics {
 public:
  // Latency buckets in seconds (upper bounds; +Inf is implicit).
  static constexpr std::array<double, 10> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,  0.1,    0.5,   1.0};

  // route: the route template ("/api/v1/plugins/{name}"), never the raw path,
  // so label cardinality stays bounded.
  void observe(const std::string& method, const std::string& route, int status, double seconds);
  void write(MetricsWriter& w) const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Histogram> latency_;
};

}  // namespace adam
