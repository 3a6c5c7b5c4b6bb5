// Prometheus text exposition of adamd's own metrics.
#include <gtest/gtest.h>

#include "core/metrics.h"

namespace adam {
namespace {

TEST(Metrics, WriterEscapesLabelsAndFormatsValues) {
  MetricsWriter w;
  w.family("x_total", "counter", "An x.");
  w.sample("x_total", {{"path", "a\"b\\c\nd"}}, 3);
  w.sample("x_total", {}, 0.25);
  EXPECT_EQ(
      w.text(),
      "# HELP x_total An x.\n# TYPE x_total counter\nx_total{path=\"a\\\"b\\\\c\\nd\"} 3\nx_total 0.25\n");
}

TEST(Metrics, HttpHistogramIsCumulative) {
  HttpMetrics m;
  m.observe("GET", "/api/v1/node", 200, 0.0004);
  m.observe("GET", "/api/v1/node", 200, 0.02);
  m.observe("GET", "/api/v1/node", 401, 3.0);
  MetricsWriter w;
  m.write(w);
  const std::string t = w.text();
  EXPECT_NE(t.find("adamd_http_requests_total{method=\"GET\",route=\"/api/v1/node\",status=\"200\"} 2\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("adamd_http_requests_total{method=\"GET\",route=\"/api/v1/node\",status=\"401\"} 1\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("_bucket{method=\"GET\",route=\"/api/v1/node\",le=\"0.0005\"} 1\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("_bucket{method=\"GET\",route=\"/api/v1/node\",le=\"0.025\"} 2\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("_bucket{method=\"GET\",route=\"/api/v1/node\",le=\"1\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("_bucket{method=\"GET\",route=\"/api/v1/node\",le=\"+Inf\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("_count{method=\"GET\",route=\"/api/v1/node\"} 3\n"), std::string::npos) << t;
}

}  // namespace
}  // namespace adam
