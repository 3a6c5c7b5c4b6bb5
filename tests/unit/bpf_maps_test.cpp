// core/bpf_maps.h on maps the test creates: batched reads and writes, per-CPU
// counter sums, and errors that name the map.
#include "core/bpf_maps.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/bpf_handle.h"

namespace adam {
namespace {

struct PacketsBytes {  // a per-CPU value of two __u64 counters
  uint64_t packets = 0, bytes = 0;
};

class BpfMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  static UniqueFd create(bpf_map_type type, const char* name, uint32_t value_size, uint32_t entries) {
    UniqueFd fd(bpf_map_create(type, name, sizeof(uint32_t), value_size, entries, nullptr));
    if (!fd)
      throw std::runtime_error(std::string("cannot create map ") + name + ": " + libbpf_error(fd.get()));
    return fd;
  }
};

TEST_F(BpfMapsTest, SumsPerCpuCountersOfAKeyAndOfAWholeArray) {
  const size_t cpus = possible_cpus();
  ASSERT_GE(cpus, 1u);
  const UniqueFd map = create(BPF_MAP_TYPE_PERCPU_ARRAY, "t_counters", sizeof(PacketsBytes), 3);
  // Key k: every CPU counted k+1 packets of 100 bytes.
  std::vector<uint32_t> keys = {0, 1, 2};
  std::vector<PacketsBytes> values;
  for (uint32_t key : keys)
    for (size_t cpu = 0; cpu < cpus; ++cpu) values.push_back({key + 1, (key + 1) * 100});
  update_batch(map.get(), keys.data(), values.data(), 3);

  const BpfMapAccess maps;
  const PacketsBytes one = sum_per_cpu<PacketsBytes>(maps, map.get(), 1);
  EXPECT_EQ(one.packets, 2 * cpus);
  EXPECT_EQ(one.bytes, 200 * cpus);
  const std::vector<PacketsBytes> all = sum_per_cpu_array<PacketsBytes>(maps, map.get(), 3);
  ASSERT_EQ(all.size(), 3u);
  for (uint32_t key : keys) {
    EXPECT_EQ(all[key].packets, (key + 1) * cpus) << key;
    EXPECT_EQ(all[key].bytes, (key + 1) * 100 * cpus) << key;
  }
}

TEST_F(BpfMapsTest, AnAbsentKeySumsToZero) {
  const UniqueFd map = create(BPF_MAP_TYPE_PERCPU_HASH, "t_sparse", sizeof(uint64_t), 4);
  EXPECT_EQ(sum_per_cpu<uint64_t>(BpfMapAccess{}, map.get(), 3), 0u);
}

TEST_F(BpfMapsTest, ReadsAnArrayInOneBatchAndNamesTheMapOnErrors) {
  const UniqueFd map = create(BPF_MAP_TYPE_ARRAY, "t_table", sizeof(uint32_t), 4);
  const std::vector<uint32_t> keys = {0, 1, 2, 3}, written = {10, 11, 12, 13};
  BpfMapAccess maps;
  maps.update_batch(map.get(), keys.data(), written.data(), 4);
  std::vector<uint32_t> read(4);
  maps.lookup_array(map.get(), read.data(), 4);
  EXPECT_EQ(read, written);

  std::vector<uint32_t> too_many(5);
  try {
    lookup_array_batch(map.get(), too_many.data(), 5);
    ADD_FAILURE() << "read 5 entries of a 4-entry array";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "batch lookup on map t_table returned 4 of 5 entries");
  }
  const uint32_t past_the_end = 4, value = 1;
  try {
    maps.update(map.get(), &past_the_end, &value);
    ADD_FAILURE() << "wrote past the end of the array";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("update on map t_table: ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace adam
