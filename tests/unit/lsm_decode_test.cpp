// The kernel back end's ring buffer decoder (lsm_decode.h): records as the
// programs write them become the events of docs/lsm.md; anything else is
// refused.
#include "plugins/lsm/lsm_decode.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "adam/lsm.h"

namespace adam::lsm {
namespace {

mon::BootClock clock_for_test() {
  mon::BootClock c;
  c.boot = "3f2a9c1e";
  c.boot_wall_ns = 1'700'000'000'000'000'000;
  return c;
}

adam_lsm_event record(uint32_t event_kind, uint8_t kind, uint8_t mechanism) {
  adam_lsm_event e{};
  e.header.kind = event_kind;
  e.header.size = sizeof e;
  e.header.ts_boot_ns = 5'000'000'000;
  e.proc.self = {.tgid = 4242, .pad = 0, .start_ns = 2'000'000'000, .tag = 0x7ffc9a8b1000};
  e.proc.parent = {.tgid = 4100, .pad = 0, .start_ns = 1'000'000'000, .tag = 0x7ffd11112000};
  e.proc.tid = 4243;
  e.proc.ppid = 4100;
  e.proc.uid = 1000;
  e.proc.gid = 1001;
  std::strcpy(e.proc.comm, "bash");
  e.policy_id = 3;
  e.kind = kind;
  e.mechanism = mechanism;
  return e;
}

bool decode(const adam_lsm_event& e, LsmEvent& out, size_t size = sizeof(adam_lsm_event)) {
  std::vector<std::byte> bytes(size);
  std::memcpy(bytes.data(), &e, std::min(size, sizeof e));
  adam_event_header header = e.header;
  // "/nonexistent": the ancestors are read from a /proc that is not there.
  return decode_record(
      clock_for_test(), header, std::span(bytes).subspan(sizeof header), out,
      [](uint32_t id) { return id == 3 ? std::string("no netcat") : std::string(); }, "/nonexistent");
}

TEST(LsmDecode, ExecKillHasPathPolicyAndSubject) {
  adam_lsm_event e = record(ADAM_LSM_EVENT_KILL, ADAM_LSM_KIND_EXEC, ADAM_LSM_MECH_SIGNAL);
  const std::string path = "/usr/bin/nc.openbsd";
  std::memcpy(e.path, path.data(), path.size());
  e.path_len = path.size();
  LsmEvent out;
  ASSERT_TRUE(decode(e, out));
  EXPECT_EQ(out.kind, "lsm.kill");
  EXPECT_EQ(out.data["policy_id"], 3);
  EXPECT_EQ(out.data["policy"], "no netcat");
  EXPECT_EQ(out.data["kind"], "exec");
  EXPECT_EQ(out.data["action"], "deny");
  EXPECT_EQ(out.data["mechanism"], "signal");
  EXPECT_EQ(out.data["path"], path);
  EXPECT_EQ(out.data["pid"], 4242);
  EXPECT_EQ(out.data["tid"], 4243);
  EXPECT_EQ(out.data["uid"], 1000);
  EXPECT_EQ(out.data["comm"], "bash");
  EXPECT_EQ(out.data["exec_id"], "3f2a9c1e-4242-200-7ffc9a8b1000");
  EXPECT_EQ(out.data["parent_exec_id"], "3f2a9c1e-4100-100-7ffd11112000");
  EXPECT_FALSE(out.data.contains("addr"));
}

TEST(LsmDecode, ConnectDenyHasTheAddress) {
  adam_lsm_event e = record(ADAM_LSM_EVENT_DENY, ADAM_LSM_KIND_CONNECT, ADAM_LSM_MECH_CGROUP);
  e.family = AF_INET6;
  e.port = 8080;
  e.proto = IPPROTO_UDP;
  ::inet_pton(AF_INET6, "2001:db8::5", e.addr);
  LsmEvent out;
  ASSERT_TRUE(decode(e, out));
  EXPECT_EQ(out.kind, "lsm.deny");
  EXPECT_EQ(out.data["mechanism"], "cgroup");
  EXPECT_EQ(out.data["family"], "ipv6");
  EXPECT_EQ(out.data["addr"], "2001:db8::5");
  EXPECT_EQ(out.data["port"], 8080);
  EXPECT_EQ(out.data["proto"], "udp");
  EXPECT_FALSE(out.data.contains("path"));
}

TEST(LsmDecode, FileAuditHasAccessAndFlags) {
  adam_lsm_event e = record(ADAM_LSM_EVENT_AUDIT, ADAM_LSM_KIND_FILE, ADAM_LSM_MECH_BPF_LSM);
  e.access = ADAM_LSM_ACCESS_WRITE;
  e.flags = 577;
  std::memcpy(e.path, "/etc/ssh/x", 10);
  e.path_len = 10;
  LsmEvent out;
  ASSERT_TRUE(decode(e, out));
  EXPECT_EQ(out.kind, "lsm.audit");
  EXPECT_EQ(out.data["action"], "audit");
  EXPECT_EQ(out.data["access"], "write");
  EXPECT_EQ(out.data["flags"], 577);
  EXPECT_EQ(out.data["path"], "/etc/ssh/x");
}

TEST(LsmDecode, MalformedRecordsAreRefused) {
  LsmEvent out;
  adam_lsm_event e = record(ADAM_LSM_EVENT_DENY, ADAM_LSM_KIND_CONNECT, ADAM_LSM_MECH_CGROUP);
  e.family = AF_INET;
  ASSERT_TRUE(decode(e, out));
  EXPECT_FALSE(decode(e, out, sizeof e - 1)) << "short";
  adam_lsm_event bad = e;
  bad.header.size = sizeof e + 8;
  EXPECT_FALSE(decode(bad, out, sizeof e + 8)) << "long";
  bad = e;
  bad.header.kind = 9;
  EXPECT_FALSE(decode(bad, out)) << "unknown event kind";
  bad = e;
  bad.kind = ADAM_LSM_KINDS;
  EXPECT_FALSE(decode(bad, out)) << "unknown kind";
  bad = e;
  bad.mechanism = 7;
  EXPECT_FALSE(decode(bad, out)) << "unknown mechanism";
  bad = e;
  bad.family = 99;
  EXPECT_FALSE(decode(bad, out)) << "unknown family";
  bad = record(ADAM_LSM_EVENT_DENY, ADAM_LSM_KIND_EXEC, ADAM_LSM_MECH_BPF_LSM);
  bad.path_len = ADAM_LSM_PATH_MAX;
  EXPECT_FALSE(decode(bad, out)) << "path past the record";
}

}  // namespace
}  // namespace adam::lsm
