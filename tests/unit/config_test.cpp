// adamd's settings: TOML config file and listen addresses.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"

namespace adam {
namespace {

std::string write_temp(const std::string& text) {
  char tmpl[] = "/tmp/adamt-config-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ::close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

TEST(Config, FileSetsKnownKeys) {
  const std::string path = write_temp(
      "listen = \"127.0.0.1:1234\"\nstate-dir = \"/tmp/x\"\npin_dir = \"/sys/fs/bpf/y\"\nlog_level = "
      "\"debug\"\n"
      "metrics_auth = true\n");
  DaemonConfig c;
  load_config_file(path, c);
  EXPECT_EQ(c.listen, "127.0.0.1:1234");
  EXPECT_EQ(c.state_dir, "/tmp/x");
  EXPECT_EQ(c.pin_dir, "/sys/fs/bpf/y");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(c.metrics_auth);
  EXPECT_FALSE(c.demo);
  std::filesystem::remove(path);
}

TEST(Config, EventRetentionKeysAndDefaults) {
  DaemonConfig c;
  EXPECT_EQ(c.retention, "30d");
  EXPECT_EQ(c.max_events, 50'000'000);
  const std::string path = write_temp("retention = \"3mo\"\nmax-events = 1000\n");
  load_config_file(path, c);
  EXPECT_EQ(c.retention, "3mo");
  EXPECT_EQ(c.max_events, 1000);
  std::filesystem::remove(path);
}

TEST(Config, UnknownKeyWrongTypeAndSyntaxErrorsNameTheProblem) {
  struct Case {
    std::string text, expect;
  };
  for (const auto& [text, expect] : std::vector<Case>{
           {"lisen = \"x\"\n", "unknown setting 'lisen'"},
           {"listen = 9988\n", "'listen' must be a string"},
           {"demo = \"yes\"\n", "'demo' must be true or false"},
           {"max_events = -1\n", "'max_events' must be a whole number"},
           {"max-events = \"5\"\n", "'max-events' must be a whole number"},
           {"max_events = 5.0\n", "'max_events' must be a whole number"},
           // config_fuzz: toml++ itself converts a float beyond int64 by undefined behaviour.
           {"max_events = 1.2e123\n", "'max_events' must be a whole number"},
           {"retention = 30\n", "'retention' must be a string"},
           {"listen = \n", ":1:"},
           {"listen = \"\\np_id\"\n", "'listen' holds a control character (U+000A) at offset 0"},
           {"allowed_origins = [\"https://a\\tb\"]\n",
            "'allowed_origins' holds a control character (U+0009) at offset 9"}}) {
    const std::string path = write_temp(text);
    DaemonConfig c;
    try {
      load_config_file(path, c);
      ADD_FAILURE() << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_EQ(c.listen, DaemonConfig{}.listen) << "a bad file changes nothing it did not get to";
    std::filesystem::remove(path);
  }
}

TEST(Config, ListenAddresses) {
  EXPECT_EQ(parse_listen("[::]:9988").host, "::");
  EXPECT_EQ(parse_listen("[::]:9988").port, 9988);
  EXPECT_EQ(parse_listen("127.0.0.1:80").host, "127.0.0.1");
  EXPECT_EQ(parse_listen(":9988").host, "::");
  EXPECT_EQ(parse_listen("[2001:db8::1]:0").host, "2001:db8::1");
  for (const char* bad : {"9988", "[::]9988", "::1:80", "host:99999", "host:-1", "host:12ab", "[::1"})
    EXPECT_THROW(parse_listen(bad), std::invalid_argument) << bad;
}

}  // namespace
}  // namespace adam
