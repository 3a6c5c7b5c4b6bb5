// The lb plugin's Maglev tables (maglev.h, docs/lb.md "Maglev"): against a
// plain reference (the paper's population loop with Katran's weight rule),
// and the properties a user relies on: shares follow weights, removing or
// adding a backend moves few entries, the order of the backends and the
// process do not matter.
#include "plugins/lb/maglev.h"
#include "support/sanitizers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace adam::lb {
namespace {

// The NSDI 2016 paper's populate loop, literally, with Katran's "v2" weights:
// every round each backend (in key order) adds its weight to a credit and,
// when the credit reaches the largest weight, pays it to take its next
// preferred free entry. Slow (every backend every round) and obviously so.
std::vector<uint32_t> reference_table(const std::vector<MaglevBackend>& backends, uint32_t size) {
  std::vector<uint32_t> entry(size, kNoBackend);
  std::vector<uint32_t> order(backends.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return backends[a].key < backends[b].key; });
  uint32_t max_weight = 0;
  for (const auto& b : backends) max_weight = std::max(max_weight, b.weight);
  if (max_weight == 0) return entry;

  std::vector<uint64_t> next(backends.size(), 0), credit(backends.size(), 0);
  auto permutation = [&](uint32_t i, uint64_t j) {
    const MaglevWalk walk = maglev_walk(backends[i].key, size);
    return static_cast<uint32_t>((walk.offset + j * walk.skip) % size);
  };
  uint32_t filled = 0;
  for (;;) {
    for (uint32_t i : order) {
      credit[i] += backends[i].weight;
      if (backends[i].weight == 0 || credit[i] < max_weight) continue;
      credit[i] -= max_weight;
      uint32_t c = permutation(i, next[i]);
      while (entry[c] != kNoBackend) c = permutation(i, ++next[i]);
      entry[c] = i;
      ++next[i];
      if (++filled == size) return entry;
    }
  }
}

std::vector<MaglevBackend> pool(const std::vector<uint32_t>& weights,
                                const std::string& prefix = "198.51.100.") {
  std::vector<MaglevBackend> backends;
  for (size_t i = 0; i < weights.size(); ++i)
    backends.push_back({prefix + std::to_string(i + 1), weights[i]});
  return backends;
}

std::vector<MaglevBackend> equal_pool(size_t n, uint32_t weight = 100) {
  std::vector<MaglevBackend> backends;
  for (size_t i = 0; i < n; ++i)
    backends.push_back({"2001:db8::" + std::to_string(i / 200) + ":" + std::to_string(i % 200 + 1), weight});
  return backends;
}

std::vector<uint32_t> entries_of(const std::vector<uint32_t>& table, size_t backends) {
  std::vector<uint32_t> count(backends, 0);
  for (uint32_t e : table) {
    EXPECT_LT(e, backends);
    if (e < backends) ++count[e];
  }
  return count;
}

// The table as backend keys, to compare tables built from different lists.
std::vector<std::string> as_keys(const std::vector<uint32_t>& table,
                                 const std::vector<MaglevBackend>& backends) {
  std::vector<std::string> keys;
  keys.reserve(table.size());
  for (uint32_t e : table) keys.push_back(e == kNoBackend ? "" : backends.at(e).key);
  return keys;
}

double moved_share(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t moved = 0;
  for (size_t i = 0; i < a.size(); ++i) moved += a[i] != b[i];
  return static_cast<double>(moved) / a.size();
}

TEST(LbMaglev, SameTablesAsThePlainReferenceOnRandomInputs) {
  std::mt19937 rng(13);
  const uint32_t sizes[] = {101, 1009, 10007, 65537};
  for (int trial = 0; trial < 60; ++trial) {
    const uint32_t size = sizes[trial % 4];
    const size_t n = 1 + rng() % std::min<size_t>(size / 100, 60);
    std::vector<MaglevBackend> backends;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t weight = rng() % 5 == 0 ? 0 : (rng() % 3 == 0 ? rng() % 65536 : 1 + rng() % 200);
      const std::string key = rng() % 2
                                  ? "198.51.100." + std::to_string(rng() % 254 + 1) + "." + std::to_string(i)
                                  : "2001:db8::" + std::to_string(i) + ":" + std::to_string(rng() % 9999);
      backends.push_back({key, weight});
    }
    EXPECT_EQ(maglev_table(backends, size), reference_table(backends, size))
        << "trial " << trial << ", " << n << " backends, size " << size;
  }
}

TEST(LbMaglev, SharesFollowWeightsWithinOnePercent) {
  const std::vector<std::vector<uint32_t>> mixes = {
      {1, 2, 3}, {1, 100}, {100, 100, 100, 100, 100, 100, 100}, {5, 5, 10, 20, 60}, {65535, 1, 300}, {7}};
  for (const auto& weights : mixes) {
    const auto backends = pool(weights);
    const auto count = entries_of(maglev_table(backends, 65537), backends.size());
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    for (size_t i = 0; i < weights.size(); ++i) {
      const double expected = 65537 * weights[i] / total;
      EXPECT_NEAR(count[i], expected, std::max(expected * 0.01, 1.0))
          << "weight " << weights[i] << " of the mix starting " << weights[0];
    }
  }
}

TEST(LbMaglev, RemovingOneOfNMovesAtMostItsShareAndOnePercent) {
  for (size_t n : {3, 10, 100}) {
    auto backends = equal_pool(n);
    const auto before = as_keys(maglev_table(backends, 65537), backends);
    for (size_t removed : {size_t{0}, n / 2, n - 1}) {
      auto fewer = backends;
      fewer.erase(fewer.begin() + removed);
      const double moved = moved_share(before, as_keys(maglev_table(fewer, 65537), fewer));
      std::printf("remove 1 of %zu: %.2f %% of the entries moved\n", n, moved * 100);
      EXPECT_LE(moved, 1.0 / n + 0.01) << "removing backend " << removed << " of " << n;
    }
  }
}

TEST(LbMaglev, AddingOneToNMovesAtMostItsShareAndOnePercent) {
  for (size_t n : {3, 10, 100}) {
    auto backends = equal_pool(n);
    const auto before = as_keys(maglev_table(backends, 65537), backends);
    auto more = backends;
    more.push_back({"203.0.113.77", 100});
    const double moved = moved_share(before, as_keys(maglev_table(more, 65537), more));
    std::printf("add 1 to %zu: %.2f %% of the entries moved\n", n, moved * 100);
    EXPECT_LE(moved, 1.0 / (n + 1) + 0.01) << "adding one to " << n;
  }
}

TEST(LbMaglev, TheOrderOfTheBackendsAndRepeatedCallsDoNotChangeTheTable) {
  auto backends = pool({10, 20, 30, 40, 0, 50, 1, 65535, 7});
  const auto first = maglev_table(backends, 65537);
  EXPECT_EQ(maglev_table(backends, 65537), first);
  const auto keys = as_keys(first, backends);
  std::mt19937 rng(7);
  for (int i = 0; i < 10; ++i) {
    std::shuffle(backends.begin(), backends.end(), rng);
    EXPECT_EQ(as_keys(maglev_table(backends, 65537), backends), keys) << "shuffle " << i;
  }
}

const char* const kPinnedTable101 =
    "21100221200221200221002220002211001202001101001102001202011202011211012211012211002211102211102211002";

// The table depends on nothing but the keys and weights: the same entries as
// this build computed once, on any machine, in any process.
TEST(LbMaglev, TheHashesAreFixed) {
  const MaglevWalk walk = maglev_walk("198.51.100.11", 65537);
  const MaglevWalk again = maglev_walk("198.51.100.11", 65537);
  EXPECT_EQ(walk.offset, again.offset);
  EXPECT_EQ(walk.skip, again.skip);
  EXPECT_LT(walk.offset, 65537u);
  EXPECT_GE(walk.skip, 1u);
  EXPECT_LT(walk.skip, 65537u);
  const auto table = maglev_table(pool({1, 1, 1}), 101);
  std::string text;
  for (uint32_t e : table) text += static_cast<char>('0' + e);
  EXPECT_EQ(text, kPinnedTable101);
}

TEST(LbMaglev, ZeroWeightsGetNothing) {
  const auto backends = pool({0, 3, 0, 1});
  const auto count = entries_of(maglev_table(backends, 65537), backends.size());
  EXPECT_EQ(count[0], 0u);
  EXPECT_EQ(count[2], 0u);
  EXPECT_EQ(count[1] + count[3], 65537u);
}

TEST(LbMaglev, NoWeightAtAllLeavesEveryEntryWithoutABackend) {
  for (const auto& backends : {pool({}), pool({0, 0, 0})}) {
    const auto table = maglev_table(backends, 65537);
    ASSERT_EQ(table.size(), 65537u);
    EXPECT_TRUE(std::all_of(table.begin(), table.end(), [](uint32_t e) { return e == kNoBackend; }));
  }
}

TEST(LbMaglev, ASizeThatIsNotAPrimeIsRefused) {
  EXPECT_THROW(maglev_table(pool({1}), 65536), std::invalid_argument);
  EXPECT_THROW(maglev_table(pool({1}), 1), std::invalid_argument);
}

// The best of five builds, in milliseconds; `table` the last one.
double build_ms(const std::vector<MaglevBackend>& backends, uint32_t size, std::vector<uint32_t>& table) {
  double best = 1e9;
  for (int run = 0; run < 5; ++run) {
    const auto start = std::chrono::steady_clock::now();
    table = maglev_table(backends, size);
    best = std::min(
        best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// The data path swaps whole tables on every change: a thousand backends at
// the default size well under 50 ms, the largest size every entry filled.
TEST(LbMaglev, ThousandBackendsBuildFast) {
  const auto backends = equal_pool(1000);
  for (uint32_t size : {65537u, 1000003u}) {
    std::vector<uint32_t> table;
    const double ms = build_ms(backends, size, table);
    std::printf("1000 backends, %u entries: %.1f ms\n", size, ms);
    const auto count = entries_of(table, backends.size());
    EXPECT_EQ(std::accumulate(count.begin(), count.end(), size_t{0}), size);
    const auto [fewest, most] = std::minmax_element(count.begin(), count.end());
    EXPECT_GE(*fewest, size / 1000);
    EXPECT_LE(*most, size / 1000 + 1);
    if (size == 65537) {
      EXPECT_LT(ms, 50.0 * adam::test::time_scale());  // sanitized builds run slower
    }
  }
}

// Weights 1..1,000 (most backends skip most rounds) and one heavy backend
// among light ones (the plain loop's worst case: ~65,000 rounds of 1,000).
TEST(LbMaglev, ThousandWeightedBackendsBuildFast) {
  auto graded = equal_pool(1000), skewed = equal_pool(1000, 1);
  for (uint32_t i = 0; i < 1000; ++i) graded[i].weight = i + 1;
  skewed[0].weight = 65535;
  for (const auto* backends : {&graded, &skewed}) {
    std::vector<uint32_t> table;
    const double ms = build_ms(*backends, 65537, table);
    std::printf("1000 backends, weights %s, 65537 entries: %.1f ms\n",
                backends == &graded ? "1..1000" : "65535 and 1s", ms);
    EXPECT_LT(ms, 50.0 * adam::test::time_scale());  // sanitized builds run slower
    const auto count = entries_of(table, backends->size());
    EXPECT_EQ(std::accumulate(count.begin(), count.end(), size_t{0}), 65537u);
  }
}

}  // namespace
}  // namespace adam::lb
