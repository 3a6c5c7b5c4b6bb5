// The Enforcement page in Chromium (tests/browser/lsm.mjs) against a real
// adamd: the mechanisms of this machine, the add form generated from the
// policy schema (a bad path refused beside its field, an audit policy
// added and listed with its mechanism), promote to deny with its count.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using LsmBrowserTest = AdamdTest;

TEST_F(LsmBrowserTest, AnAuditPolicyIsAddedThroughTheFormListedAndPromoted) {
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "no /usr/bin/chromium (scripts/install-deps.sh)";
  const std::string screenshots = std::string(ADAM_BUILD_DIR) + "/screenshots";
  std::filesystem::create_directories(screenshots);
  const std::string command = "cd " + std::string(ADAM_SOURCE_DIR) + " && node tests/browser/lsm.mjs " +
                              d().url() + " " + d().admin_token() + " " + screenshots + " 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_EQ(status, 0) << d().log();
  EXPECT_TRUE(std::filesystem::exists(screenshots + "/lsm.png"));
}

}  // namespace
}  // namespace adam::test
