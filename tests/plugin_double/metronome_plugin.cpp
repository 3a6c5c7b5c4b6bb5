// A plugin that only the tests know: no core file names it, its config
// fields or its stats. Linked into a test build of adamd (adamd_with_metronome),
// it registers itself through register_plugin(), the call the registry's own
// list goes through, and must get what every plugin gets from the core: its
// config schema served, a start form and `adamctl --set` generated from it,
// its routes, a console page in the navigation, its series in /metrics.
#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

#include "api/html.h"
#include "core/config_schema.h"
#include "core/errors.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "core/route.h"
#include "plugins/registry.h"

namespace adam::test {
namespace {

using nlohmann::json;

class MetronomePlugin : public Plugin {
 public:
  explicit MetronomePlugin(PluginContext&) {}

  std::string name() const override { return "metronome"; }
  std::string description() const override { return "ticks at a tempo (a test double)"; }
  std::string unsupported_reason(const KernelFeatures&) const override { return ""; }

  json config_schema() const override {
    ConfigSchema s;
    s.field({.name = "tempo",
             .type = "integer",
             .help = "beats per minute",
             .required = true,
             .minimum = 1,
             .maximum = 600});
    s.field({.name = "tone",
             .type = "string",
             .help = "what a beat sounds like",
             .default_value = "tick",
             .choices = {"tick", "tock", "clack"}});
    s.field({.name = "accents", .type = "array", .items = "integer", .help = "beats of the bar to accent"});
    s.field({.name = "silent", .type = "boolean", .help = "count without a sound", .default_value = false});
    return s.to_json();
  }
  void validate(const json& config) const override {
    Plugin::validate(config);
    for (size_t i = 0; i < config.value("accents", json::array()).size(); ++i)
      if (config["accents"][i].get<int64_t>() < 1)
        throw bad_request("accents[" + std::to_string(i) + "]", "beats count from 1");
  }
  void start(const json& config) override {
    std::lock_guard lock(mu_);
    config_ = config;
    ++starts_;
  }
  void stop() override {
    std::lock_guard lock(mu_);
    config_ = json::object();
  }
  json stats() const override {
    std::lock_guard lock(mu_);
    return {{"starts", starts_}, {"tempo", config_.value("tempo", 0)}};
  }
  std::string summary() const override {
    std::lock_guard lock(mu_);
    return fmt::format("{} bpm, {}", config_.value("tempo", 0), config_.value("tone", "tick"));
  }
  // GET /api/v1/metronome/beat, POST /api/v1/metronome/tap (admin), and a
  // console page.
  std::vector<Route> routes() override {
    std::vector<Route> r;
    r.push_back(
        {"GET", "/api/v1/metronome/beat", "/api/v1/metronome/beat", Access::viewer, [this](const Request&) {
           return Reply{200, beat()};
         }});
    r.push_back(
        {"POST", "/api/v1/metronome/tap", "/api/v1/metronome/tap", Access::admin, [this](const Request&) {
           const json before = beat();
           {
             std::lock_guard lock(mu_);
             ++taps_;
           }
           const json after = beat();
           return Reply{200, after, before, after};
         }});
    // Its page reads the active machine's API, as every console page does.
    Route page{"GET", "/metronome", "/metronome", Access::viewer, [](const Request& req) {
                 return html_reply(html::json_block(req.api("GET", "/api/v1/metronome/beat", nullptr)));
               }};
    page.page = Page::machine;
    page.nav = "Metronome";
    r.push_back(std::move(page));
    return r;
  }
  void metrics(MetricsWriter& w) const override {
    std::lock_guard lock(mu_);
    w.family("adam_metronome_starts_total", "counter", "Times the metronome was started.");
    w.sample("adam_metronome_starts_total", {}, static_cast<double>(starts_));
    w.family("adam_metronome_tempo", "gauge", "Beats per minute, by tone.");
    w.sample("adam_metronome_tempo", {{"tone", config_.value("tone", "tick")}}, config_.value("tempo", 0));
  }

 private:
  json beat() const {
    std::lock_guard lock(mu_);
    return {{"tempo", config_.value("tempo", 0)},
            {"taps", taps_},
            {"links", {{"self", "/api/v1/metronome/beat"}, {"tap", "/api/v1/metronome/tap"}}}};
  }

  mutable std::mutex mu_;
  json config_ = json::object();
  uint64_t starts_ = 0;
  uint64_t taps_ = 0;
};

const bool registered = (register_plugin(make_plugin<MetronomePlugin>), true);

}  // namespace
}  // namespace adam::test
