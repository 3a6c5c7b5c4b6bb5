#include "plugins/lb/maglev.h"

#include <algorithm>
#include <queue>
#include <stdexcept>

#include "plugins/lb/service.h"

namespace adam::lb {
namespace {

// FNV-1a over the key, started from `seed` instead of the usual offset
// basis, then splitmix64's finalizer: FNV alone mixes the last bytes poorly,
// and addresses of a pool differ mostly in their last bytes.
uint64_t key_hash(const std::string& key, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

constexpr uint64_t kOffsetSeed = 0xcbf29ce484222325ull;  // FNV-1a's offset basis
constexpr uint64_t kSkipSeed = 0x84222325cbf29ce4ull;

// A backend's walk over the table (maglev_walk) as it fills: `position` is
// where its next placement looks first.
struct Walk {
  uint32_t index;  // in the caller's span
  uint32_t weight;
  uint32_t skip;
  uint32_t position;
  uint64_t placed = 0;  // entries this backend filled so far
};

// The round (1-based) in which a backend of `weight` places its entry number
// `placed` + 1: Katran's v2 adds the weight to a credit every round and
// places when the credit reaches the largest weight, so after r rounds it
// has placed floor(r * weight / max_weight) entries.
uint64_t round_of_next(uint64_t placed, uint32_t weight, uint32_t max_weight) {
  return ((placed + 1) * max_weight + weight - 1) / weight;
}

}  // namespace

MaglevWalk maglev_walk(const std::string& key, uint32_t table_size) {
  return {static_cast<uint32_t>(key_hash(key, kOffsetSeed) % table_size),
          static_cast<uint32_t>(key_hash(key, kSkipSeed) % (table_size - 1) + 1)};
}

std::vector<uint32_t> maglev_table(std::span<const MaglevBackend> backends, uint32_t table_size) {
  // A prime size makes every skip visit every entry, so each walk finds a
  // free one while the table is not full.
  if (!is_prime(table_size)) throw std::invalid_argument("maglev_table: the table size must be a prime");
  std::vector<uint32_t> table(table_size, kNoBackend);

  // Sorted by key, so the walks and the turns within a round do not depend
  // on the caller's order. Weightless backends take no turns at all.
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < backends.size(); ++i)
    if (backends[i].weight > 0) order.push_back(i);
  if (order.empty()) return table;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (backends[a].key != backends[b].key) return backends[a].key < backends[b].key;
    return backends[a].weight < backends[b].weight;
  });

  std::vector<Walk> walks;
  walks.reserve(order.size());
  uint32_t max_weight = 0;
  for (uint32_t i : order) {
    const MaglevWalk walk = maglev_walk(backends[i].key, table_size);
    walks.push_back({i, backends[i].weight, walk.skip, walk.offset});
    max_weight = std::max(max_weight, backends[i].weight);
  }

  // Katran's rounds, without visiting the backends that do not place in a
  // round: a queue of (round of the next placement, rank in key order) gives
  // the same sequence of turns as looping over every backend every round.
  using Turn = std::pair<uint64_t, uint32_t>;
  std::priority_queue<Turn, std::vector<Turn>, std::greater<>> turns;
  for (uint32_t rank = 0; rank < walks.size(); ++rank)
    turns.emplace(round_of_next(0, walks[rank].weight, max_weight), rank);

  // The walks probe a bitmap of the taken entries rather than the table: a
  // walk's probes land anywhere, and the bitmap stays in the cache (125 KiB
  // at the largest size, the table 4 MiB).
  std::vector<uint64_t> taken((table_size + 63) / 64, 0);
  for (uint32_t filled = 0; filled < table_size; ++filled) {
    const uint32_t rank = turns.top().second;
    turns.pop();
    Walk& w = walks[rank];
    while (taken[w.position / 64] >> (w.position % 64) & 1) {
      w.position += w.skip;
      if (w.position >= table_size) w.position -= table_size;
    }
    taken[w.position / 64] |= uint64_t{1} << (w.position % 64);
    table[w.position] = w.index;
    w.position += w.skip;
    if (w.position >= table_size) w.position -= table_size;
    ++w.placed;
    turns.emplace(round_of_next(w.placed, w.weight, max_weight), rank);
  }
  return table;
}

}  // namespace adam::lb
