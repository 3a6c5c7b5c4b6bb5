// The plugin manager's control-plane logic (states, idempotent start, desired
// state persistence and restore), with an in-process plugin that records what
// it was asked to do: no kernel needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/kernel.h"
#include "core/plugin_manager.h"
#include "store/database.h"
#include "store/desired_state.h"

namespace adam {
namespace {

struct Journal {
  std::vector<std::string> calls;
  int validations = 0;  // validate() calls, kept out of `calls`
  bool fail_next_start = false;
};

class RecordingPlugin : public Plugin {
 public:
  RecordingPlugin(std::string name, Journal& j, std::string needs = "")
      : name_(std::move(name)), j_(j), needs_(needs) {}
  std::string name() const override { return name_; }
  std::string description() const override { return "records calls"; }
  std::string unsupported_reason(const KernelFeatures& f) const override {
    return needs_.empty() || f.has(needs_) ? "" : needs_ + " missing";
  }
  void validate(const nlohmann::json& config) const override {
    ++j_.validations;
    for (const auto& [k, _] : config.items())
      if (k != "size") throw bad_request(k, "unknown field '" + k + "'");
  }
  void start(const nlohmann::json& config) override {
    j_.calls.push_back("start " + config.dump());
    if (j_.fail_next_start) {
      j_.fail_next_start = false;
      throw std::runtime_error("attach failed: device busy");
    }
  }
  void stop() override { j_.calls.push_back("stop"); }
  nlohmann::json stats() const override { return {{"calls", j_.calls.size()}}; }

 private:
  std::string name_;
  Journal& j_;
  std::string needs_;
};

// A plugin that takes a new config in place (as the firewall does).
class InPlacePlugin : public RecordingPlugin {
 public:
  InPlacePlugin(std::string name, Journal& j) : RecordingPlugin(std::move(name), j), journal_(j) {}
  void reconfigure(const nlohmann::json& config) override {
    journal_.calls.push_back("reconfigure " + config.dump());
    if (journal_.fail_next_start) {
      journal_.fail_next_start = false;
      throw std::runtime_error("attach failed: device busy");
    }
  }

 private:
  Journal& journal_;
};

class PluginManagerTest : public ::testing::Test {
 protected:
  PluginManagerTest() {
    char tmpl[] = "/tmp/adamt-pm-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    db_ = std::make_unique<Database>(dir_ + "/adam.db");
    desired_ = std::make_unique<DesiredStateStore>(*db_);
    features_.features["xdp"] = {true, "probed"};
    features_.features["bpf_lsm"] = {false, "BPF LSM not in /sys/kernel/security/lsm"};
  }
  ~PluginManagerTest() override { std::filesystem::remove_all(dir_); }

  // A file under the pin dir (make()'s) where the switcher plugin pins.
  std::string pin_of_switcher() {
    std::filesystem::create_directories(dir_ + "/pins/switcher");
    const std::string pin = dir_ + "/pins/switcher/tables";
    std::ofstream(pin) << "a pinned map";
    return pin;
  }

  std::unique_ptr<PluginManager> make() {
    std::vector<std::unique_ptr<Plugin>> plugins;
    plugins.push_back(std::make_unique<RecordingPlugin>("alpha", journal_, "xdp"));
    plugins.push_back(std::make_unique<RecordingPlugin>("enforcer", journal_, "bpf_lsm"));
    plugins.push_back(std::make_unique<InPlacePlugin>("switcher", switcher_journal_));
    return std::make_unique<PluginManager>(std::move(plugins), *desired_, features_, dir_ + "/pins");
  }

  std::string dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<DesiredStateStore> desired_;
  KernelFeatures features_;
  Journal journal_;
  Journal switcher_journal_;  // the in-place plugin's own, out of the other tests' way
};

TEST_F(PluginManagerTest, UnsupportedPluginSaysWhyAndRefusesToStart) {
  auto pm = make();
  auto s = pm->status("enforcer");
  EXPECT_EQ(s.state, PluginState::unsupported);
  EXPECT_EQ(s.reason, "bpf_lsm missing");
  try {
    pm->start("enforcer", nlohmann::json::object());
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 503);
  }
  EXPECT_TRUE(journal_.calls.empty());
}

TEST_F(PluginManagerTest, StartIsIdempotentAndANewConfigRestarts) {
  auto pm = make();
  EXPECT_EQ(pm->start("alpha", {{"size", 1}}).state, PluginState::running);
  pm->start("alpha", {{"size", 1}});
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"start {\"size\":1}"}));
  pm->start("alpha", {{"size", 2}});
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"start {\"size\":1}", "stop", "start {\"size\":2}"}));
  EXPECT_EQ(pm->status("alpha").config, nlohmann::json({{"size", 2}}));
}

TEST_F(PluginManagerTest, APluginThatSwitchesInPlaceIsReconfiguredNotStopped) {
  auto pm = make();
  pm->start("switcher", {{"size", 1}});
  pm->start("switcher", {{"size", 2}});
  EXPECT_EQ(switcher_journal_.calls,
            (std::vector<std::string>{"start {\"size\":1}", "reconfigure {\"size\":2}"}));
  EXPECT_EQ(pm->status("switcher").state, PluginState::running);
  EXPECT_EQ(pm->status("switcher").config, nlohmann::json({{"size", 2}}));
  // A failed switch leaves the plugin failed, with the reason.
  switcher_journal_.fail_next_start = true;
  EXPECT_THROW(pm->start("switcher", {{"size", 3}}), ApiError);
  EXPECT_EQ(pm->status("switcher").state, PluginState::failed);
  EXPECT_NE(pm->status("switcher").reason.find("device busy"), std::string::npos);
  // From failed, a start is a start.
  pm->start("switcher", {{"size", 3}});
  EXPECT_EQ(switcher_journal_.calls.back(), "start {\"size\":3}");
}

TEST_F(PluginManagerTest, BadConfigAndUnknownPluginChangeNothing) {
  auto pm = make();
  try {
    pm->start("alpha", {{"colour", "red"}});
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "colour");
  }
  try {
    pm->start("nope", nlohmann::json::object());
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
  }
  EXPECT_TRUE(journal_.calls.empty());
  EXPECT_EQ(pm->status("alpha").state, PluginState::stopped);
  EXPECT_FALSE(desired_->get("alpha"));
}

TEST_F(PluginManagerTest, FailedStartIsReportedAndNotPersisted) {
  auto pm = make();
  journal_.fail_next_start = true;
  try {
    pm->start("alpha", {{"size", 1}});
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
    EXPECT_NE(std::string(e.what()).find("device busy"), std::string::npos);
  }
  auto s = pm->status("alpha");
  EXPECT_EQ(s.state, PluginState::failed);
  EXPECT_EQ(s.reason, "attach failed: device busy");
  EXPECT_FALSE(desired_->get("alpha"));
}

TEST_F(PluginManagerTest, RestoreBringsBackDesiredStateAndCleansStopped) {
  {
    auto pm = make();
    pm->start("alpha", {{"size", 3}});
  }  // adamd exits: plugin released, not stopped
  journal_.calls.clear();
  auto pm = make();
  pm->restore();
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"start {\"size\":3}"}));
  EXPECT_EQ(pm->status("alpha").state, PluginState::running);
  EXPECT_TRUE(pm->status("alpha").desired_running);

  pm->stop("alpha");
  journal_.calls.clear();
  auto again = make();
  again->restore();
  // Stopped on purpose: restore only removes leftovers.
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"stop"}));
  EXPECT_EQ(again->status("alpha").state, PluginState::stopped);
}

TEST_F(PluginManagerTest, RestoreMarksAPluginThatCannotStartFailed) {
  desired_->set("alpha", {true, R"({"size":1})"});
  journal_.fail_next_start = true;
  auto pm = make();
  pm->restore();
  auto s = pm->status("alpha");
  EXPECT_EQ(s.state, PluginState::failed);
  EXPECT_NE(s.reason.find("device busy"), std::string::npos);
  EXPECT_TRUE(s.desired_running) << "the wish stays; a later start may succeed";
}

// The manager validates a config once per start, restore included: the
// plugin's start() relies on it and does not validate again.
TEST_F(PluginManagerTest, ValidatesOncePerStart) {
  {
    auto pm = make();
    pm->start("alpha", {{"size", 1}});
    EXPECT_EQ(journal_.validations, 1);
    pm->start("switcher", {{"size", 1}});
    pm->start("switcher", {{"size", 2}});  // reconfigured in place
    EXPECT_EQ(switcher_journal_.validations, 2);
  }
  journal_.validations = 0;
  auto pm = make();
  pm->restore();
  EXPECT_EQ(journal_.validations, 1);
}

// A pin of a running plugin removed: degraded with the reason, reported
// once; back: running again, reported. (Interfaces: fault_pins_test.cpp.)
TEST_F(PluginManagerTest, APinRemovedDegradesThePluginUntilItIsBack) {
  const std::string pin = pin_of_switcher();
  auto pm = make();
  pm->start("switcher", {{"size", 1}});
  std::vector<std::string> reports;
  const auto report = [&](const std::string& kind, const nlohmann::json& data) {
    reports.push_back(kind + " " + data.value("plugin", "") + ": " + data.value("reason", ""));
  };
  pm->check_attachments(report);
  EXPECT_TRUE(reports.empty());

  std::filesystem::remove(pin);
  pm->check_attachments(report);
  pm->check_attachments(report);
  const PluginStatus degraded = pm->status("switcher");
  EXPECT_EQ(degraded.state, PluginState::degraded);
  EXPECT_NE(degraded.reason.find("1 pin(s) removed (" + pin + ")"), std::string::npos) << degraded.reason;
  ASSERT_EQ(reports.size(), 1u) << "reported once";
  EXPECT_EQ(reports[0].rfind("plugin.degraded switcher: 1 pin(s) removed", 0), 0u) << reports[0];
  EXPECT_EQ(pm->list()[2].state, PluginState::degraded);

  std::ofstream(pin) << "pinned again";
  pm->check_attachments(report);
  EXPECT_EQ(pm->status("switcher").state, PluginState::running);
  EXPECT_EQ(pm->status("switcher").reason, "");
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].rfind("plugin.repaired switcher", 0), 0u) << reports[1];
  // A degraded plugin started with its config again is reconfigured in place.
  std::filesystem::remove(pin);
  pm->check_attachments(report);
  pm->start("switcher", {{"size", 1}});
  EXPECT_EQ(switcher_journal_.calls.back(), "reconfigure {\"size\":1}");
  EXPECT_EQ(pm->status("switcher").state, PluginState::running);
}

// What a plugin attached is taken at its start: a pin removed before the
// first check (adamd checks every second) is reported all the same.
TEST_F(PluginManagerTest, APinRemovedBeforeTheFirstCheckIsReported) {
  const std::string pin = pin_of_switcher();
  auto pm = make();
  pm->start("switcher", {{"size", 1}});
  std::filesystem::remove(pin);
  pm->check_attachments([](const std::string&, const nlohmann::json&) {});
  EXPECT_EQ(pm->status("switcher").state, PluginState::degraded);
  EXPECT_NE(pm->status("switcher").reason.find(pin), std::string::npos) << pm->status("switcher").reason;
}

}  // namespace
}  // namespace adam
