#include "core/bpf_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "core/bpf_handle.h"

namespace adam {
namespace {

std::string map_name(int fd) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return "fd " + std::to_string(fd);
  return info.name;
}

[[noreturn]] void throw_map_error(const char* what, int fd, int err) {
  throw std::runtime_error(std::string(what) + " on map " + map_name(fd) + ": " + libbpf_error(err));
}

// Adds a per-CPU value (`words` __u64 for each of `cpus` CPUs) into `sums`.
void add_cpus(const uint64_t* values, size_t cpus, uint64_t* sums, size_t words) {
  for (size_t cpu = 0; cpu < cpus; ++cpu)
    for (size_t w = 0; w < words; ++w) sums[w] += values[cpu * words + w];
}

}  // namespace

void update_batch(int map_fd, const void* keys, const void* values, uint32_t count) {
  bpf_map_batch_opts opts{};
  opts.sz = sizeof(opts);
  __u32 done = count;
  if (int err = bpf_map_update_batch(map_fd, keys, values, &done, &opts); err)
    throw_map_error("batch update", map_fd, err);
}

void lookup_array_batch(int map_fd, void* values, uint32_t count) {
  std::vector<__u32> keys(count);
  bpf_map_batch_opts opts{};
  opts.sz = sizeof(opts);
  __u32 out_batch = 0, done = count;
  // The kernel walks the array from the start (in_batch NULL) and returns
  // -ENOENT once it ran past its last element, with the entries it read.
  int err = bpf_map_lookup_batch(map_fd, nullptr, &out_batch, keys.data(), values, &done, &opts);
  if (err && err != -ENOENT) throw_map_error("batch lookup", map_fd, err);
  if (done != count)
    throw std::runtime_error("batch lookup on map " + map_name(map_fd) + " returned " + std::to_string(done) +
                             " of " + std::to_string(count) + " entries");
}

size_t possible_cpus() {
  const int n = libbpf_num_possible_cpus();
  if (n <= 0) throw std::runtime_error("cannot count the possible CPUs: " + libbpf_error(n));
  return static_cast<size_t>(n);
}

namespace detail {

void sum_per_cpu_key(const MapAccess& maps, int map_fd, uint32_t key, uint64_t* sums, size_t words) {
  const size_t cpus = possible_cpus();
  std::vector<uint64_t> values(cpus * words);
  if (maps.lookup(map_fd, &key, values.data())) add_cpus(values.data(), cpus, sums, words);
}

void sum_per_cpu_array(const MapAccess& maps, int map_fd, uint32_t count, uint64_t* sums, size_t words) {
  if (count == 0) return;
  const size_t cpus = possible_cpus();
  std::vector<uint64_t> values(size_t{count} * cpus * words);
  maps.lookup_array(map_fd, values.data(), count);
  for (size_t key = 0; key < count; ++key)
    add_cpus(values.data() + key * cpus * words, cpus, sums + key * words, words);
}

}  // namespace detail

void BpfMapAccess::update(int map_fd, const void* key, const void* value) {
  if (int err = bpf_map_update_elem(map_fd, key, value, BPF_ANY); err) throw_map_error("update", map_fd, err);
}

void BpfMapAccess::update_batch(int map_fd, const void* keys, const void* values, uint32_t count) {
  adam::update_batch(map_fd, keys, values, count);
}

void BpfMapAccess::lookup_array(int map_fd, void* values, uint32_t count) const {
  lookup_array_batch(map_fd, values, count);
}

void BpfMapAccess::remove(int map_fd, const void* key) {
  if (int err = bpf_map_delete_elem(map_fd, key); err && err != -ENOENT)
    throw_map_error("delete", map_fd, err);
}

bool BpfMapAccess::lookup(int map_fd, const void* key, void* value) const {
  int err = bpf_map_lookup_elem(map_fd, key, value);
  if (err == -ENOENT) return false;
  if (err) throw_map_error("lookup", map_fd, err);
  return true;
}

bool BpfMapAccess::next_key(int map_fd, const void* key, void* next) const {
  int err = bpf_map_get_next_key(map_fd, key, next);
  if (err == -ENOENT) return false;
  if (err) throw_map_error("key iteration", map_fd, err);
  return true;
}

}  // namespace adam
