#pragma once
// Maglev consistent hashing (Eisenbud et al., NSDI 2016), with weights: the
// lookup table a service's packets are hashed into. Built in user space and
// handed to the kernel whole (docs/lb.md "Maglev").
//
// Deterministic: the table depends only on the backends' keys, weights and
// order-independent identity, never on the process, the machine or the
// standard library's hash, so two adamds given the same service build the
// same table.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace adam::lb {

inline constexpr uint32_t kNoBackend = 0xFFFFFFFFu;  // an entry of a table without backends

struct MaglevBackend {
  std::string key;      // what the permutation is derived from: the backend's address text
  uint32_t weight = 0;  // 0: no entries
};

// Where a backend's walk over a table of `table_size` entries (a prime)
// starts and its stride: entry j of its permutation is
// (offset + j * skip) % table_size. From two 64-bit hashes of the key.
struct MaglevWalk {
  uint32_t offset = 0;  // 0 .. table_size - 1
  uint32_t skip = 1;    // 1 .. table_size - 1
};
MaglevWalk maglev_walk(const std::string& key, uint32_t table_size);

// The table of `table_size` entries (a prime), each the index in `backends`
// of the backend it maps to; every entry kNoBackend when no backend has a
// weight. Backends' shares of the entries follow their weights; removing one
// of N moves few entries other than its own. The result does not depend on
// the order of `backends` (beyond the indexes it returns) as long as their
// keys differ. Throws std::invalid_argument when `table_size` is not a prime.
std::vector<uint32_t> maglev_table(std::span<const MaglevBackend> backends, uint32_t table_size);

}  // namespace adam::lb
