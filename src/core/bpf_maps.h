#pragma once
// Reading and writing BPF maps from adamd: the bpf(2) map commands behind an
// interface (MapAccess, like Katran's BpfAdapter), so that a plugin's
// table-writing logic reads as map operations and not as syscalls; batched
// reads and writes (one syscall for a whole array); sums of per-CPU counters.
// Every error throws std::runtime_error naming the operation and the map.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace adam {

class MapAccess {
 public:
  virtual ~MapAccess() = default;
  virtual void update(int map_fd, const void* key, const void* value) = 0;
  // `count` keys and values, packed; one syscall for all of them.
  virtual void update_batch(int map_fd, const void* keys, const void* values, uint32_t count) = 0;
  // The values of keys 0..count-1 of an array map, packed, in one syscall.
  virtual void lookup_array(int map_fd, void* values, uint32_t count) const = 0;
  // Deleting an absent key is no error.
  virtual void remove(int map_fd, const void* key) = 0;
  // False when the key is absent.
  virtual bool lookup(int map_fd, const void* key, void* value) const = 0;
  // The key after `key` (nullptr: the first) into `next`; false past the last.
  virtual bool next_key(int map_fd, const void* key, void* next) const = 0;
};

// MapAccess on the bpf(2) map commands.
class BpfMapAccess final : public MapAccess {
 public:
  void update(int map_fd, const void* key, const void* value) override;
  void update_batch(int map_fd, const void* keys, const void* values, uint32_t count) override;
  void lookup_array(int map_fd, void* values, uint32_t count) const override;
  void remove(int map_fd, const void* key) override;
  bool lookup(int map_fd, const void* key, void* value) const override;
  bool next_key(int map_fd, const void* key, void* next) const override;
};

// BPF_MAP_UPDATE_BATCH of `count` packed keys and values.
void update_batch(int map_fd, const void* keys, const void* values, uint32_t count);
// BPF_MAP_LOOKUP_BATCH of keys 0..count-1 of an array map into `values`
// (packed; for a per-CPU array, possible_cpus() values per key). Throws when
// the map has fewer entries.
void lookup_array_batch(int map_fd, void* values, uint32_t count);

// How many values a per-CPU map holds per key: the kernel's possible CPUs
// (not the online ones). Throws when it cannot be read.
size_t possible_cpus();

// `Counters` is the value of a per-CPU map made of __u64 counters only (one
// __u64, or a struct of them, e.g. {packets, bytes}): its sum over CPUs is
// the sum of each field.
template <typename Counters>
concept PerCpuCounters = std::is_trivially_copyable_v<Counters> && sizeof(Counters) % sizeof(uint64_t) == 0;

namespace detail {
// `words` sums (of `words` __u64 each) from a per-CPU map: of one key, or of
// keys 0..count-1 of an array in one batch read.
void sum_per_cpu_key(const MapAccess& maps, int map_fd, uint32_t key, uint64_t* sums, size_t words);
void sum_per_cpu_array(const MapAccess& maps, int map_fd, uint32_t count, uint64_t* sums, size_t words);
}  // namespace detail

// The sum over CPUs of `key`'s value in a per-CPU map; zero when the key is absent.
template <PerCpuCounters Counters>
Counters sum_per_cpu(const MapAccess& maps, int map_fd, uint32_t key) {
  uint64_t sums[sizeof(Counters) / sizeof(uint64_t)] = {};
  detail::sum_per_cpu_key(maps, map_fd, key, sums, std::size(sums));
  Counters out;
  std::memcpy(&out, sums, sizeof out);
  return out;
}

// The sums over CPUs of keys 0..count-1 of a per-CPU array, read in one batch.
template <PerCpuCounters Counters>
std::vector<Counters> sum_per_cpu_array(const MapAccess& maps, int map_fd, uint32_t count) {
  constexpr size_t kWords = sizeof(Counters) / sizeof(uint64_t);
  std::vector<uint64_t> sums(size_t{count} * kWords, 0);
  detail::sum_per_cpu_array(maps, map_fd, count, sums.data(), kWords);
  std::vector<Counters> out(count);
  if (count > 0) std::memcpy(out.data(), sums.data(), sums.size() * sizeof(uint64_t));
  return out;
}

}  // namespace adam
