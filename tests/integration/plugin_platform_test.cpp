// The plugin platform, proved with a plugin that only the tests know: the
// metronome (tests/plugin_double/) is linked into a test build of adamd and
// registers itself; no core file names it. Through the core alone it must
// get its config schema served and checked, a start from a console form,
// its summary, its series in /metrics and its desired state restored.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"
#include "support/prometheus.h"

namespace adam::test {
namespace {

using nlohmann::json;

const std::string kPlugin = "/api/v1/plugins/metronome";
const std::map<std::string, std::string> kForm = {{"Content-Type", "application/x-www-form-urlencoded"}};

class PluginPlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Adamd::Options options;
    options.binary = ADAM_BUILD_DIR "/tests/adamd_with_metronome";
    adamd_ = std::make_unique<Adamd>(options);
  }
  json plugin() { return adamd_->get(kPlugin).json(); }
  std::unique_ptr<Adamd> adamd_;
};

TEST_F(PluginPlatformTest, NoCoreFileNamesThePlugin) {
  for (const char* dir : {"src", "web", "bpf"}) {
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(std::string(ADAM_SOURCE_DIR) + "/" + dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      EXPECT_EQ(text.str().find("metronome"), std::string::npos) << entry.path();
    }
  }
}

TEST_F(PluginPlatformTest, ItsConfigSchemaIsServedBesideTheBuiltInPlugins) {
  const json list = adamd_->get("/api/v1/plugins").json();
  std::vector<std::string> names;
  for (const auto& p : list["plugins"]) names.push_back(p["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"firewall", "monitor", "lsm", "lb", "metronome"}))
      << "built-in plugins first";
  const json p = plugin();
  EXPECT_EQ(p["state"], "stopped");
  EXPECT_EQ(p["links"]["start"], kPlugin + "/start");
  const json& fields = p["config_schema"]["fields"];
  ASSERT_EQ(fields.size(), 4u) << p.dump();
  EXPECT_EQ(fields[0]["name"], "tempo");
  EXPECT_EQ(fields[0]["type"], "integer");
  EXPECT_EQ(fields[0]["maximum"], 600);
  EXPECT_EQ(fields[1]["enum"], json({"tick", "tock", "clack"}));
  EXPECT_EQ(fields[1]["default"], "tick");
  EXPECT_EQ(fields[2]["items"], "integer");
  EXPECT_EQ(fields[3]["help"], "count without a sound");
}

TEST_F(PluginPlatformTest, AConsoleFormStartsItWithTypedValues) {
  const HttpResponse r =
      adamd_->request("POST", kPlugin + "/start", "tempo=90&tone=tock&accents=1%2C3&silent=on", "", kForm);
  ASSERT_EQ(r.status, 200) << r.body;
  const json p = plugin();
  EXPECT_EQ(p["state"], "running");
  EXPECT_EQ(p["config"], json({{"tempo", 90}, {"tone", "tock"}, {"accents", {1, 3}}, {"silent", true}}));
  EXPECT_EQ(p["summary"], "90 bpm, tock");
  EXPECT_EQ(p["stats"]["starts"], 1);
}

TEST_F(PluginPlatformTest, BadConfigsAreRefusedNamingTheFieldAndChangeNothing) {
  ASSERT_EQ(adamd_->post(kPlugin + "/start", R"({"tempo":60})").status, 200);
  const json before = plugin();
  expect_api_error(adamd_->post(kPlugin + "/start", R"({"tempo":601})"), 400, "bad_request", "tempo");
  expect_api_error(adamd_->post(kPlugin + "/start", R"({"tempo":60,"tone":"beep"})"), 400, "bad_request",
                   "tone");
  expect_api_error(adamd_->post(kPlugin + "/start", R"({"tempo":60,"volume":3})"), 400, "bad_request",
                   "volume");
  expect_api_error(adamd_->post(kPlugin + "/start", R"({"tone":"tock"})"), 400, "bad_request", "tempo");
  // The plugin's own check, after the schema's.
  expect_api_error(adamd_->post(kPlugin + "/start", R"({"tempo":60,"accents":[2,0]})"), 400, "bad_request",
                   "accents[1]");
  expect_api_error(adamd_->request("POST", kPlugin + "/start", "tempo=fast", "", kForm), 400, "bad_request",
                   "tempo");
  const json after = plugin();
  EXPECT_EQ(after["config"], before["config"]);
  EXPECT_EQ(after["stats"]["starts"], 1) << "a refused config never reached the plugin";
}

TEST_F(PluginPlatformTest, AdamctlStartsItFromItsSchemaAndListsItsSummary) {
  const std::string ctl =
      ADAM_BUILD_DIR "/adamctl --url " + adamd_->url() + " --token " + adamd_->admin_token();
  const std::string help = capture(ctl + " plugin start metronome --help-config 2>&1");
  EXPECT_NE(help.find("tempo"), std::string::npos) << help;
  EXPECT_NE(help.find("beats per minute"), std::string::npos) << help;
  const std::string started = capture(
      ctl + " plugin start metronome --set tempo=140 --set accents=1,3 --set tone=tock 2>&1; echo exit=$?");
  EXPECT_NE(started.find("exit=0"), std::string::npos) << started;
  EXPECT_EQ(plugin()["config"], json({{"tempo", 140}, {"accents", {1, 3}}, {"tone", "tock"}}));
  const std::string listed = capture(ctl + " plugins");
  EXPECT_NE(listed.find("140 bpm, tock"), std::string::npos) << listed;
  const std::string refused = capture(ctl + " plugin start metronome --set tempo=presto 2>&1; echo exit=$?");
  EXPECT_NE(refused.find("field: tempo"), std::string::npos) << refused;
  EXPECT_NE(refused.find("exit=1"), std::string::npos) << refused;
  EXPECT_EQ(plugin()["config"]["tempo"], 140);
}

TEST_F(PluginPlatformTest, ItsRoutesGetAuthNegotiationAuditAndMetrics) {
  const std::string viewer =
      adamd_->post("/api/v1/tokens", R"({"name":"v","role":"viewer"})").json()["token"];
  const HttpResponse beat = adamd_->get("/api/v1/metronome/beat", viewer);
  ASSERT_EQ(beat.status, 200) << beat.body;
  EXPECT_EQ(beat.json()["taps"], 0);
  expect_api_error(adamd_->get("/api/v1/metronome/beat", "-"), 401, "unauthorized");
  expect_api_error(adamd_->post("/api/v1/metronome/tap", "{}", viewer), 403, "forbidden");
  const HttpResponse tap = adamd_->post("/api/v1/metronome/tap", "{}");
  ASSERT_EQ(tap.status, 200) << tap.body;
  EXPECT_EQ(tap.json()["taps"], 1);
  const HttpResponse fragment =
      adamd_->request("GET", "/api/v1/metronome/beat", "", "", {{"HX-Request", "true"}});
  EXPECT_EQ(fragment.header("Content-Type").rfind("text/html", 0), 0u);
  EXPECT_NE(fragment.body.find("&quot;taps&quot;: 1"), std::string::npos) << fragment.body;
  // The audit trail records the change with before and after (stored within
  // the event writer's batch window).
  bool seen = false;
  json audit;
  for (int i = 0; i < 50 && !seen; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    audit = adamd_->get("/api/v1/events?last=1h&kind=api.change").json();
    for (const auto& e : audit["events"])
      if (e["data"]["route"] == "/api/v1/metronome/tap")
        seen = e["data"]["before"]["taps"] == 0 && e["data"]["after"]["taps"] == 1;
  }
  EXPECT_TRUE(seen) << audit.dump();
  const Exposition m = parse_exposition(adamd_->get("/metrics", "-").body);
  EXPECT_EQ(m.value("adamd_http_requests_total",
                    {{"method", "POST"}, {"route", "/api/v1/metronome/tap"}, {"status", "200"}}),
            1);
}

TEST_F(PluginPlatformTest, TheConsoleLinksItsPageAndGeneratesItsStartForm) {
  const HttpResponse login =
      adamd_->request("POST", "/ui/login", "token=" + adamd_->admin_token(), "-", kForm);
  ASSERT_EQ(login.status, 303);
  const std::string cookie = login.header("Set-Cookie").substr(0, login.header("Set-Cookie").find(';'));
  const HttpResponse console = adamd_->request("GET", "/", "", "-", {{"Cookie", cookie}});
  EXPECT_NE(console.body.find("<a href=\"/metronome\">Metronome</a>"), std::string::npos) << console.body;
  const HttpResponse page = adamd_->request("GET", "/metronome", "", "-", {{"Cookie", cookie}});
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("&quot;taps&quot;"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("/ui/logout"), std::string::npos) << "served inside the console layout";
  // The plugin table's start form, one input per field of its schema.
  const HttpResponse plugins =
      adamd_->request("GET", "/api/v1/plugins", "", "-", {{"Cookie", cookie}, {"HX-Request", "true"}});
  ASSERT_EQ(plugins.status, 200);
  const std::string& html = plugins.body;
  const size_t form = html.find("hx-post=\"/api/v1/plugins/metronome/start\"");
  ASSERT_NE(form, std::string::npos) << html;
  const std::string metronome_form = html.substr(form, html.find("</form>", form) - form);
  for (const char* want : {"<input type=\"number\" step=\"1\" name=\"tempo\"", "max=\"600\"",
                           "<select name=\"tone\"", "<option value=\"clack\"", "name=\"accents\"",
                           "type=\"checkbox\" name=\"silent\"", "beats per minute"})
    EXPECT_NE(metronome_form.find(want), std::string::npos) << want << "\n" << metronome_form;
}

TEST_F(PluginPlatformTest, ItsSeriesAreInMetricsWhileItRuns) {
  Exposition m = parse_exposition(adamd_->get("/metrics", "-").body);
  EXPECT_EQ(m.value("adamd_plugin_state", {{"plugin", "metronome"}, {"state", "stopped"}}), 1);
  EXPECT_FALSE(m.value("adam_metronome_starts_total"));
  ASSERT_EQ(adamd_->post(kPlugin + "/start", R"({"tempo":120,"tone":"clack"})").status, 200);
  m = parse_exposition(adamd_->get("/metrics", "-").body);
  EXPECT_EQ(m.value("adamd_plugin_state", {{"plugin", "metronome"}, {"state", "running"}}), 1);
  EXPECT_EQ(m.types.at("adam_metronome_starts_total"), "counter");
  EXPECT_EQ(m.value("adam_metronome_starts_total"), 1);
  EXPECT_EQ(m.value("adam_metronome_tempo", {{"tone", "clack"}}), 120);
}

TEST_F(PluginPlatformTest, ARestartedAdamdBringsItBackToItsDesiredState) {
  ASSERT_EQ(adamd_->post(kPlugin + "/start", R"({"tempo":75,"accents":[1]})").status, 200);
  ASSERT_EQ(adamd_->stop(), 0);
  adamd_->start();
  const json p = plugin();
  EXPECT_EQ(p["state"], "running") << p.dump();
  EXPECT_EQ(p["config"], json({{"tempo", 75}, {"accents", {1}}}));
  EXPECT_EQ(p["summary"], "75 bpm, tick");
}

}  // namespace
}  // namespace adam::test
