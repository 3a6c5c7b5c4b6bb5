#pragma once
// The policies of one kind as the tables of bpf/adam/lsm.h ("Policy
// tables"): slots, the bitmaps of every dimension, the trie entries with the
// bits of the shorter entries that cover them, the port intervals. Plain
// C++: the kernel back end writes what this computes into one generation.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "adam/lsm.h"
#include "plugins/lsm/policy.h"

namespace adam::lsm {

struct KindTables {
  adam_lsm_kind_table table{};
  std::vector<adam_lsm_slot> slots;  // by slot
  std::vector<std::pair<adam_lsm_path_key, adam_lsm_bitmap>> paths;
  std::vector<std::pair<adam_lsm_uid_key, adam_lsm_bitmap>> uids;
  std::vector<std::pair<adam_lsm_comm_key, adam_lsm_bitmap>> comms;
  std::vector<std::pair<adam_lsm_cgroup_key, adam_lsm_bitmap>> cgroups;
  std::vector<std::pair<adam_lsm_addr_key, adam_lsm_bitmap>> addrs;
  std::vector<uint32_t> port_starts;  // ascending, [0] = 0 (connect, bind)
  std::vector<adam_lsm_bitmap> port_bitmaps;
};

// `policies`: enabled, of `kind`, sorted by (priority, id); their resolved
// paths, parents and cgroup ids are what is enforced. Keys carry `gen`.
// Throws ApiError 422 naming "kind" when they exceed a limit of the tables.
KindTables compile_kind(Kind kind, const std::vector<const Policy*>& policies, uint32_t gen);

}  // namespace adam::lsm
