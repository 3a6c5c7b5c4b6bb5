#pragma once
// One enforcement back end of the lsm plugin: the kernel's (bpf_lsm, cgroup
// and signal programs of bpf/lsm.bpf.c, pinned) or fanotify's (adamd
// answering permission events). The plugin (lsm_plugin.cpp) chooses a
// mechanism per kind, builds the back ends those choices need, and hands
// each the policies of its kinds on every change, as the last step of the
// store's transaction (PolicyStore::change()).
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "plugins/lsm/policy.h"

namespace adam {
class EventHub;
class MetricsWriter;
struct KernelFeatures;
namespace mon {
struct BootClock;
}
}  // namespace adam

namespace adam::lsm {

struct Hits {
  uint64_t deny = 0;   // denied, or killed (signal)
  uint64_t audit = 0;  // matched an audit policy
};

class Enforcer {
 public:
  // Lets go: the kernel back end's pinned links and maps keep enforcing
  // (removing them is the back end's own static remove_pins()).
  virtual ~Enforcer() = default;

  // Replaces the policies this back end enforces by `policies`: enabled,
  // resolved, only of its kinds, sorted by (priority, id). All-or-nothing:
  // throws ApiError (422 naming "kind" when they do not fit its tables) and
  // keeps enforcing the previous set.
  virtual void apply(const std::vector<Policy>& policies) = 0;
  // By policy id, counted since the back end started (the plugin adds them up).
  virtual std::map<int64_t, Hits> hits() const = 0;
  // adam_lsm_* families of its own (cheap: called on every scrape).
  virtual void metrics(MetricsWriter&) const {}
  // For the plugin's stats: what it attached, its counters.
  virtual nlohmann::json stats() const = 0;
};

// The kernel back end (kernel_enforcer.cpp): bpf/lsm.bpf.c's programs for
// the kinds whose mechanism is bpf_lsm, cgroup or signal.
struct KernelSetup {
  std::string pin_dir;  // its own: PluginContext::pin_dir + "/lsm"
  const KernelFeatures* features = nullptr;
  // By kind (ADAM_LSM_KIND_*): bpf_lsm, cgroup or signal; nullopt when
  // another back end (or none) enforces the kind.
  std::array<std::optional<Mechanism>, ADAM_LSM_KINDS> mechanism{};
  EventHub* events = nullptr;  // lsm.* events go there as plugin "lsm"; null in kernel-only tests
  const mon::BootClock* clock = nullptr;
  uint32_t event_rate = 1000;  // events per second at most (the rest counted lost: rate_limit)
  uint32_t ring_buffer_kb = 1024;
  // The process exempt from every policy with its descendants: nullopt is
  // this one (adamd); 0 none (tests of the deny path, run by a test process).
  std::optional<uint32_t> exempt_tgid;
};
// Loads, adopts what an earlier adamd pinned under setup.pin_dir (so the
// enforcement never stops across a restart) and attaches; the adopted
// tables stay until the first apply(). Throws (having released what it
// took, pins of an earlier adamd left as they were) on failure.
std::unique_ptr<Enforcer> make_kernel_enforcer(const KernelSetup& setup);
// Detaches and removes everything the kernel back end pinned (plugin stop).
void remove_kernel_pins(const std::string& pin_dir);

// The fanotify back end (fanotify_enforcer.cpp): exec and file policies
// answered by adamd (docs/lsm.md "fanotify").
struct FanotifySetup {
  std::array<bool, ADAM_LSM_KINDS> kinds{};  // exec and/or file
  uint32_t answer_ms = 1000;                 // the fail mode answers what is not decided by then
  EventHub* events = nullptr;
  const mon::BootClock* clock = nullptr;  // null: read at construction
  // The root of the process tree no policy applies to (docs/lsm.md
  // "Exemptions"): nullopt is this process (adamd); 0 exempts nothing (a
  // test whose own children are the subjects).
  std::optional<uint32_t> exempt_tgid;
};
std::unique_ptr<Enforcer> make_fanotify_enforcer(const FanotifySetup& setup);

}  // namespace adam::lsm
