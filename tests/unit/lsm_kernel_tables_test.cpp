// The compiler of the kernel back end's tables (kernel_tables.h): what the
// BPF programs look up, checked without a kernel. (The hooks deciding with
// these tables are lsm_kernel_test's.)
#include "plugins/lsm/kernel_tables.h"

#include <gtest/gtest.h>

#include <string>

#include "core/errors.h"

namespace adam::lsm {
namespace {

bool has_slot(const adam_lsm_bitmap& b, size_t slot) { return (b.bits[slot / 64] >> (slot % 64)) & 1; }

Policy exec_policy(int64_t id, std::vector<std::string> paths) {
  Policy p;
  p.id = id;
  p.kind = Kind::exec;
  p.action = Action::deny;
  p.match.path = p.resolved.path = std::move(paths);
  return p;
}

std::string key_path(const adam_lsm_path_key& key) { return std::string(key.path, (key.prefixlen - 8) / 8); }

TEST(LsmKernelTables, PathEntriesCarryTheirCoveringPrefixes) {
  const Policy tmp = exec_policy(1, {"/tmp/"});
  const Policy nc = exec_policy(2, {"/tmp/nc", "/usr/bin/nc"});
  const KindTables t = compile_kind(Kind::exec, {&tmp, &nc}, 1);
  ASSERT_EQ(t.paths.size(), 3u);
  EXPECT_EQ(t.table.policies, 2u);
  EXPECT_EQ(t.slots[0].policy_id, 1u);
  EXPECT_EQ(t.slots[1].action, ADAM_LSM_ACTION_DENY);
  for (const auto& [key, bits] : t.paths) {
    EXPECT_EQ(key.table, ADAM_LSM_PATH_TABLE(1, ADAM_LSM_KIND_EXEC, 0));
    const std::string path = key_path(key);
    if (path == "/tmp/") {
      EXPECT_TRUE(has_slot(bits, 0));
      EXPECT_FALSE(has_slot(bits, 1));
    } else if (path == std::string("/tmp/nc\0", 8)) {
      EXPECT_TRUE(has_slot(bits, 0)) << "the prefix covering it";
      EXPECT_TRUE(has_slot(bits, 1));
    } else {
      EXPECT_EQ(path, std::string("/usr/bin/nc\0", 12)) << "an exact path is stored with its NUL";
      EXPECT_FALSE(has_slot(bits, 0));
      EXPECT_TRUE(has_slot(bits, 1));
    }
  }
  EXPECT_EQ(t.table.scoped, 0u) << "no scope: no scope lookups";
  EXPECT_TRUE(has_slot(t.table.any_uid, 0) && has_slot(t.table.any_uid, 1));
}

TEST(LsmKernelTables, PortsBecomeIntervalsAndPortZeroOnlyMatchesPoliciesWithoutPorts) {
  Policy low, any;
  low.id = 1;
  low.kind = any.kind = Kind::bind;
  low.match.port = {{1, 1023}, {8080, 8080}};
  any.id = 2;
  const KindTables t = compile_kind(Kind::bind, {&low, &any}, 0);
  const std::vector<uint32_t> starts = {0, 1, 1024, 8080, 8081};
  ASSERT_EQ(t.port_starts, starts);
  ASSERT_EQ(t.table.port_intervals, 5u);
  const bool low_in[] = {false, true, false, true, false};
  for (size_t i = 0; i < starts.size(); ++i) {
    EXPECT_EQ(has_slot(t.port_bitmaps[i], 0), low_in[i]) << "interval from " << starts[i];
    EXPECT_TRUE(has_slot(t.port_bitmaps[i], 1)) << "a policy without ports allows every port";
  }
}

TEST(LsmKernelTables, AddressesCarryTheirCoveringNetworks) {
  Policy wide, narrow;
  wide.id = 1;
  narrow.id = 2;
  wide.kind = narrow.kind = Kind::connect;
  wide.match.addr = {Cidr{.family = 4, .addr = {203, 0, 113, 0}, .prefix_len = 24}};
  narrow.match.addr = {Cidr{.family = 4, .addr = {203, 0, 113, 7}, .prefix_len = 32}};
  const KindTables t = compile_kind(Kind::connect, {&wide, &narrow}, 0);
  ASSERT_EQ(t.addrs.size(), 2u);
  EXPECT_TRUE(t.table.scoped & ADAM_LSM_SCOPED_ADDR);
  for (const auto& [key, bits] : t.addrs) {
    EXPECT_EQ(key.family, 4);
    EXPECT_TRUE(has_slot(bits, 0));
    EXPECT_EQ(has_slot(bits, 1), key.prefixlen == 16 + 32) << "prefixlen " << key.prefixlen;
  }
}

TEST(LsmKernelTables, OverTheLimitsIs422NamingKind) {
  std::vector<Policy> many(ADAM_LSM_MAX_POLICIES + 1);
  std::vector<const Policy*> refs;
  for (Policy& p : many) refs.push_back(&p);
  try {
    compile_kind(Kind::connect, refs, 0);
    FAIL() << "compiled " << refs.size() << " policies";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
    EXPECT_EQ(e.field(), "kind");
  }
  Policy ports;
  ports.kind = Kind::connect;
  for (uint16_t port = 1; port < 2 * ADAM_LSM_MAX_PORT_INTERVALS; port += 2)
    ports.match.port.push_back({port, port});
  EXPECT_THROW(compile_kind(Kind::connect, {&ports}, 0), ApiError) << "too many port intervals";
}

}  // namespace
}  // namespace adam::lsm
