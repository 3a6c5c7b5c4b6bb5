// The load balancer end to end (docs/lb.md "Tests"): real TCP connections
// from a client namespace to a VIP, balanced by adamd's lb plugin in the
// balancer namespace over three backends (tests/support/lb_lab.h), in
// direct server return and in IPIP with ADAM's decap on the backends.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "support/lb_lab.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using namespace std::chrono_literals;

class LbLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
    lab_ = std::make_unique<LbLab>();
  }
  std::unique_ptr<LbLab> lab_;
};

// The lab itself, before any balancer: each backend answers with its name
// on its own address, and the VIP answers nobody (the balancer namespace
// neither holds it nor forwards), so every answer through the VIP below is
// the balancer's doing.
TEST_F(LbLabTest, BackendsAnswerWithTheirNamesAndTheVipOnlyThroughABalancer) {
  for (size_t i = 0; i < lab_->backend_count(); ++i) {
    const LbLab::Host& b = lab_->backend(i);
    for (const std::string& address : {b.ipv4, b.ipv6}) {
      LabConnection c(*lab_, address);
      ASSERT_TRUE(c.ok()) << address << ": " << c.error();
      EXPECT_EQ(c.backend(), b.name);
      EXPECT_EQ(c.exchange("hello"), "hello") << c.error();
    }
  }
  for (const std::string vip : {LbLab::kVip4, LbLab::kVip6}) {
    LabConnection c(*lab_, vip, 500ms);
    EXPECT_FALSE(c.ok()) << vip << " answered by " << c.backend() << " without a balancer";
  }

  // A killed server refuses connections (what a tcp health check sees), and
  // answers again once restarted.
  lab_->kill_server(1);
  LabConnection refused(*lab_, lab_->backend(1).ipv4);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), "connect: Connection refused");
  lab_->start_server(1);
  EXPECT_EQ(ask_vip(*lab_, lab_->backend(1).ipv4), "b2");
}

}  // namespace
}  // namespace adam::test
