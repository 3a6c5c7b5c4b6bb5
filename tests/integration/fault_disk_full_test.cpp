// Disk full (issue #14, "Faults"): adamd's state dir on a small tmpfs of the
// test's, filled up by a file while the firewall's log rule turns a UDP
// flood into events. adamd keeps enforcing and answering, counts the events
// it could not store as `write` losses, stores again once the file is gone,
// and its database passes `PRAGMA integrity_check` at the end.
//
// a (sender)                       b (adamd, firewall on veth-b, receivers)
// veth-a 198.51.100.1/24      ⇄    veth-b 198.51.100.2/24
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/bpf_handle.h"
#include "support/adamd.h"
#include "support/netns.h"
#include "support/udp.h"

namespace adam::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kB = "198.51.100.2";
constexpr uint16_t kLoggedPort = 8080;  // the log rule drops it
constexpr uint16_t kOpenPort = 8081;    // no rule: passes

// A tmpfs of `size` mounted on `dir` (hiding what was there) until destroyed,
// also when the test fails; detached lazily, so files still open in it do
// not keep it mounted.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const std::string& size) : dir_(dir) {
    mounted_ = ::mount("adamt-full", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                       ("size=" + size + ",mode=0700").c_str()) == 0;
    EXPECT_TRUE(mounted_) << "mount tmpfs on " << dir << ": " << strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// Takes every free byte of the file system of `path`'s directory; returns
// how many it wrote.
int64_t fill(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  EXPECT_TRUE(fd) << path << ": " << strerror(errno);
  const std::vector<char> chunk(1 << 20, 'f');
  int64_t written = 0;
  for (size_t size = chunk.size(); size >= 512; size /= 2)
    for (ssize_t n; (n = ::write(fd.get(), chunk.data(), size)) > 0;) written += n;
  return written;
}

int64_t free_bytes(const std::string& dir) {
  struct statvfs st {};
  EXPECT_EQ(::statvfs(dir.c_str(), &st), 0) << dir;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_bsize);
}

class FaultDiskFullTest : public NetnsAdamdTest {
 protected:
  void TearDown() override {
    if (adamd_ && adamd_->running()) adamd_->stop();
    mount_.reset();
    NetnsAdamdTest::TearDown();
  }

  // adamd again, on a fresh tmpfs of `size` over its state dir.
  void restart_on_tmpfs(const std::string& size) {
    ASSERT_EQ(adamd_->stop(), 0);
    mount_ = std::make_unique<TmpfsMount>(adamd_->state_dir(), size);
    ASSERT_TRUE(mount_->mounted());
    adamd_->start();
    ASSERT_TRUE(adamd_->running());
  }

  // The firewall drops what it should and passes the rest: `count`
  // datagrams to each port, read in namespace b.
  void expect_enforcing(int count) {
    UdpReceiver logged(pair_->b(), kB, kLoggedPort), open(pair_->b(), kB, kOpenPort);
    send_udp(pair_->a(), kB, kLoggedPort, count);
    send_udp(pair_->a(), kB, kOpenPort, 3);
    EXPECT_EQ(open.drain(300ms), 3) << "port " << kOpenPort << " passes";
    EXPECT_EQ(logged.drain(10ms), 0) << "port " << kLoggedPort << " is dropped";
  }

  // adamd's event counts of the firewall: {"stored", "lost": {reason: n}}.
  json firewall_events() {
    const auto r = adamd_->get("/api/v1/node");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json()["events"]["plugins"].value("firewall", json::object()) : json::object();
  }

  uint64_t rule_packets(int64_t id) {
    const auto r = adamd_->get("/api/v1/firewall/counters?ids=" + std::to_string(id));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["counters"].value(std::to_string(id), json::object()).value("packets", uint64_t{0});
  }

  static bool eventually(const std::function<bool()>& done) {
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;
         std::this_thread::sleep_for(100ms))
      if (done()) return true;
    return done();
  }

  std::unique_ptr<TmpfsMount> mount_;
};

int64_t lost_total(const json& counts) {
  int64_t n = 0;
  const json lost = counts.value("lost", json::object());
  for (const auto& [reason, count] : lost.items()) n += count.get<int64_t>();
  return n;
}

TEST_F(FaultDiskFullTest, KeepsEnforcingAndAnsweringCountsWriteLossesAndStoresAgainWithSpace) {
  restart_on_tmpfs("16m");
  const std::string state = adamd_->state_dir();
  auto started = adamd_->post("/api/v1/plugins/firewall/start",
                              json{{"interfaces", {"veth-b"}}, {"log_rate", 100000}}.dump());
  ASSERT_EQ(started.status, 200) << started.body << adamd_->log();
  const json log_rule = {{"name", "log drop udp 8080"},
                         {"action", "drop"},
                         {"log", true},
                         {"match", {{"proto", {"udp"}}, {"dst_port", {kLoggedPort}}}}};
  const auto created = adamd_->post("/api/v1/firewall/rules", log_rule.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t id = created.json()["id"];
  expect_enforcing(100);
  ASSERT_TRUE(eventually([&] { return firewall_events().value("stored", int64_t{0}) == 100; }))
      << firewall_events().dump();

  // The disk fills up; the flood goes on.
  const std::string filler = state + "/filler";
  const int64_t filled = fill(filler);
  std::cout << "[ NOTE ] filler " << filled << " bytes, " << free_bytes(state) << " bytes left\n";
  ASSERT_LT(free_bytes(state), 4096);
  const int64_t stored_before = firewall_events().value("stored", int64_t{0});
  for (int round = 0; round < 20 && firewall_events()["lost"].value("write", int64_t{0}) == 0; ++round)
    expect_enforcing(2000);
  const json full = firewall_events();
  std::cout << "[ NOTE ] while full: " << full.dump() << "\n";
  EXPECT_GT(full["lost"].value("write", int64_t{0}), 0) << "events that found no space are counted lost";
  ASSERT_TRUE(adamd_->running()) << adamd_->log();
  EXPECT_EQ(adamd_->get("/healthz", "-").status, 200);
  EXPECT_EQ(adamd_->get("/api/v1/firewall/rules").status, 200);
  const auto explained =
      adamd_->post("/api/v1/firewall/explain",
                   R"({"src":"198.51.100.1","dst":"198.51.100.2","proto":"udp","dst_port":8080})");
  EXPECT_EQ(explained.status, 200) << explained.body;
  EXPECT_EQ(explained.json().value("rule_id", json()), id) << explained.body;

  // A rule change with no space for it: refused whole (5xx), or stored and
  // applied; never one without the other.
  const json open_rule = {{"name", "drop udp 8081"},
                          {"action", "drop"},
                          {"match", {{"proto", {"udp"}}, {"dst_port", {kOpenPort}}}}};
  const auto refused = adamd_->post("/api/v1/firewall/rules", open_rule.dump());
  std::cout << "[ NOTE ] a rule add on the full disk: " << refused.status << " " << refused.body << "\n";
  const auto explain_open =
      adamd_->post("/api/v1/firewall/explain",
                   R"({"src":"198.51.100.1","dst":"198.51.100.2","proto":"udp","dst_port":8081})");
  if (refused.status == 201) {
    EXPECT_EQ(explain_open.json().value("verdict", ""), "drop") << explain_open.body;
    ASSERT_EQ(adamd_->request("DELETE", "/api/v1/firewall/rules/" + refused.json()["id"].dump()).status, 204);
  } else {
    EXPECT_GE(refused.status, 500) << refused.body;
    EXPECT_EQ(explain_open.json().value("verdict", ""), "pass") << "a refused add changes nothing";
  }

  // Space returns: events are stored again, and every packet the log rule
  // dropped is an event stored or counted lost.
  std::filesystem::remove(filler);
  const int64_t stored_full = firewall_events().value("stored", int64_t{0});
  expect_enforcing(500);
  json after;
  const bool accounted = eventually([&] {
    after = firewall_events();
    return after.value("stored", int64_t{0}) >= stored_full + 500 &&
           rule_packets(id) == static_cast<uint64_t>(after.value("stored", int64_t{0}) + lost_total(after));
  });
  std::cout << "[ NOTE ] stored before the disk filled " << stored_before << ", while full " << stored_full
            << ", after " << after.dump() << ", rule packets " << rule_packets(id) << "\n";
  EXPECT_TRUE(accounted) << "stored again: " << after.dump() << ", rule packets " << rule_packets(id);
  const auto events = adamd_->get("/api/v1/events?kind=events.lost&limit=100");
  EXPECT_NE(events.body.find("\"reason\":\"write\""), std::string::npos)
      << "the gap is marked with an events.lost event once there is space: " << events.body;

  ASSERT_EQ(adamd_->stop(), 0) << adamd_->log();
  SQLite::Database db(state + "/adam.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

}  // namespace
}  // namespace adam::test
