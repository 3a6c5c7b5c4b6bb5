// The kernel back end of the lsm plugin (docs/lsm.md "Mechanisms"):
// bpf/lsm.bpf.c's programs for the kinds whose mechanism is bpf_lsm, cgroup
// or signal, their maps and links pinned under the setup's pin dir (so the
// enforcement outlives adamd), the policy tables compiled by
// kernel_tables.cpp and swapped in by generation, the ring buffer decoded by
// lsm_decode.cpp.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include "core/bpf_maps.h"
#include "core/bpf_pins.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "core/pinned_link.h"
#include "core/undo.h"
#include "lsm.skel.h"
#include "plugins/lsm/enforcer.h"
#include "plugins/lsm/kernel_tables.h"
#include "plugins/lsm/lsm_decode.h"
#include "plugins/monitor/proc_scan.h"

namespace adam::lsm {
namespace {

using LsmSkeleton = SkeletonPtr<lsm_bpf, lsm_bpf__destroy>;

constexpr const char* kLinkPrefix = "link_";

// Which mechanism each program enforces, and for which kind.
struct ProgramRole {
  bpf_program* prog;
  Kind kind;
  Mechanism mechanism;
};

std::vector<ProgramRole> roles_of(lsm_bpf& s, bool tp_btf) {
  const auto& p = s.progs;
  return {
      {p.lsm_exec, Kind::exec, Mechanism::bpf_lsm},
      {p.lsm_file_open, Kind::file, Mechanism::bpf_lsm},
      {p.lsm_connect, Kind::connect, Mechanism::bpf_lsm},
      {p.lsm_sendmsg, Kind::connect, Mechanism::bpf_lsm},
      {p.lsm_bind, Kind::bind, Mechanism::bpf_lsm},
      {p.lsm_cg_connect4, Kind::connect, Mechanism::cgroup},
      {p.lsm_cg_connect6, Kind::connect, Mechanism::cgroup},
      {p.lsm_cg_sendmsg4, Kind::connect, Mechanism::cgroup},
      {p.lsm_cg_sendmsg6, Kind::connect, Mechanism::cgroup},
      {p.lsm_cg_bind4, Kind::bind, Mechanism::cgroup},
      {p.lsm_cg_bind6, Kind::bind, Mechanism::cgroup},
      // One twin of the signal program: tp_btf where the kernel takes it.
      {tp_btf ? p.lsm_exec_kill_btf : p.lsm_exec_kill_raw, Kind::exec, Mechanism::signal},
  };
}

uint32_t link_type_of(bpf_program* prog) {
  switch (bpf_program__type(prog)) {
    case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
      return BPF_LINK_TYPE_CGROUP;
    case BPF_PROG_TYPE_RAW_TRACEPOINT:
      return BPF_LINK_TYPE_RAW_TRACEPOINT;
    default:  // LSM and tp_btf programs: trampoline links
      return BPF_LINK_TYPE_TRACING;
  }
}

std::string link_pin(const std::string& dir, bpf_program* prog) {
  return dir + "/" + kLinkPrefix + bpf_program__name(prog);
}

// The kernel follows every update of an array-of-maps with synchronize_rcu():
// when it returns, no hook run that started before (all of them run under
// rcu_read_lock) is left.
class GracePeriod {
 public:
  GracePeriod() {
    inner_.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "lsm_grace_in", 4, 4, 1, nullptr));
    if (!inner_) throw std::runtime_error("lsm: cannot create a map: " + libbpf_error(inner_.get()));
    bpf_map_create_opts opts{};
    opts.sz = sizeof(opts);
    opts.inner_map_fd = static_cast<__u32>(inner_.get());
    outer_.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "lsm_grace", 4, 4, 1, &opts));
    if (!outer_) throw std::runtime_error("lsm: cannot create a map: " + libbpf_error(outer_.get()));
  }
  void wait(MapAccess& maps) {
    const __u32 zero = 0, inner = static_cast<__u32>(inner_.get());
    maps.update(outer_.get(), &zero, &inner);
  }

 private:
  UniqueFd inner_, outer_;
};

// Removes one generation's entries from a hash or trie; `gen_of` reads it from a key.
template <typename Key, typename GenOf>
void remove_generation(MapAccess& maps, int fd, uint32_t gen, GenOf gen_of) {
  std::vector<Key> stale;
  Key key{}, next{};
  for (bool first = true; maps.next_key(fd, first ? nullptr : &key, &next); first = false) {
    if (gen_of(next) == gen) stale.push_back(next);
    key = next;
  }
  for (const Key& k : stale) maps.remove(fd, &k);
}

template <typename Key>
void write_entries(MapAccess& maps, int fd, const std::vector<std::pair<Key, adam_lsm_bitmap>>& entries) {
  for (const auto& [key, bits] : entries) maps.update(fd, &key, &bits);
}

class KernelEnforcer final : public Enforcer {
 public:
  explicit KernelEnforcer(const KernelSetup& setup);
  ~KernelEnforcer() override;

  void apply(const std::vector<Policy>& policies) override;
  std::map<int64_t, Hits> hits() const override;
  void metrics(MetricsWriter& w) const override;
  nlohmann::json stats() const override;

 private:
  // The slots of generation `gen` (policy id and action of each, by kind)
  // and their hit counters now.
  struct SlotHits {
    adam_lsm_slot slot;
    uint64_t hits;
  };
  std::vector<SlotHits> read_slot_hits(uint32_t gen) const;
  uint32_t active_generation() const;
  void write_generation(uint32_t gen, const std::vector<KindTables>& tables);
  void attach_all(UndoStack& undo);
  std::string policy_name(uint32_t id) const;
  uint64_t lost(uint32_t reason) const;

  KernelSetup setup_;
  LsmSkeleton skel_;
  mutable BpfMapAccess maps_;
  GracePeriod grace_;
  std::vector<std::string> created_pins_;
  std::map<std::string, BpfLinkPtr> links_;  // by program name
  std::unique_ptr<EventHub::Registration> events_;
  UniqueFd cgroup_root_;
  std::string cgroup_mount_;
  std::array<size_t, ADAM_LSM_KINDS> policies_{};  // of each kind in the active generation

  mutable std::mutex mu_;                  // guards the members below (the decoder reads names_)
  std::map<uint32_t, std::string> names_;  // policy id -> name, of what was applied
  std::map<int64_t, Hits> folded_;         // hits of generations swapped out
  std::map<uint32_t, uint64_t> baseline_;  // slot index -> hits an earlier adamd counted (adopted)
};

KernelEnforcer::KernelEnforcer(const KernelSetup& setup) : setup_(setup) {
  if (!setup.features) throw std::invalid_argument("lsm: KernelSetup.features is required");
  skel_.reset(lsm_bpf__open());
  if (!skel_) throw std::runtime_error("lsm: cannot open its BPF object: " + libbpf_error(-errno));
  lsm_bpf& s = *skel_;
  const bool tp_btf = setup.features->has("tp_btf");
  // Every program off, then those of the chosen mechanisms on: a hook that
  // enforces nothing here costs nothing.
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, s.obj) bpf_program__set_autoload(prog, false);
  for (const ProgramRole& role : roles_of(s, tp_btf))
    if (setup.mechanism[static_cast<size_t>(role.kind)] == role.mechanism)
      bpf_program__set_autoload(role.prog, true);
  if (int err = bpf_map__set_max_entries(s.maps.lsm_events, setup.ring_buffer_kb * 1024))
    throw std::runtime_error("lsm: sizing the ring buffer failed: " + libbpf_error(err));

  std::error_code ec;
  std::filesystem::create_directories(setup.pin_dir, ec);
  if (ec) throw std::runtime_error("lsm: cannot create the pin dir " + setup.pin_dir + ": " + ec.message());
  created_pins_ = adopt_or_replace_map_pins(s.obj, setup.pin_dir, {}, "lsm");
  if (int err = lsm_bpf__load(&s))  // on failure libbpf unpins what it pinned
    throw std::runtime_error("lsm: loading its BPF programs failed: " + libbpf_error(err));
  UndoStack undo;
  undo.push("the lsm plugin's new map pins", [pins = created_pins_] { remove_pins(pins); });
  if (created_pins_.empty())
    spdlog::info("lsm: re-adopted the pinned policy tables in {} (kept until the first apply)",
                 setup.pin_dir);

  const __u32 zero = 0;
  const adam_lsm_config config{.exempt_tgid = setup.exempt_tgid.value_or(static_cast<uint32_t>(::getpid())),
                               .event_rate = setup.event_rate};
  maps_.update(bpf_map__fd(s.maps.lsm_config), &zero, &config);
  // Hits since this back end started: what the adopted counters hold now is an earlier adamd's.
  const uint32_t gen = active_generation();
  for (uint32_t kind = 0; kind < ADAM_LSM_KINDS; ++kind) {
    const __u32 at = ADAM_LSM_KIND_INDEX(gen, kind);
    adam_lsm_kind_table t{};
    if (maps_.lookup(bpf_map__fd(s.maps.lsm_kinds), &at, &t)) policies_[kind] = t.policies;
  }
  const std::vector<SlotHits> adopted = read_slot_hits(gen);
  for (uint32_t i = 0; i < adopted.size(); ++i)
    if (adopted[i].hits) baseline_[i] = adopted[i].hits;

  if (setup.events && setup.clock) {
    const mon::BootClock clock = *setup.clock;
    events_ = setup.events->add_ring_buffer(RingBufferSource{
        "lsm", bpf_map__fd(s.maps.lsm_events), bpf_map__fd(s.maps.lsm_lost),
        [this, clock](const adam_event_header& header, std::span<const std::byte> payload,
                      DecodedRecord& out) {
          LsmEvent event;
          if (!decode_record(clock, header, payload, event, [this](uint32_t id) { return policy_name(id); }))
            return false;
          out.kind = event.kind;
          out.data = event.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          return true;
        }});
  }
  attach_all(undo);
  undo.dismiss();
  spdlog::info("lsm: {} kernel programs attached (pins in {})", links_.size(), setup.pin_dir);
}

// The registration drains the ring buffer with the decoder, which reads
// names_: it goes before the members it uses. Links and maps stay pinned.
KernelEnforcer::~KernelEnforcer() { events_.reset(); }

void KernelEnforcer::attach_all(UndoStack& undo) {
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    const std::string path = link_pin(setup_.pin_dir, prog);
    const std::string what = std::string("the lsm link of ") + bpf_program__name(prog);
    const bool cgroup = bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
    BpfLinkPtr pinned;
    try {
      pinned = open_pinned_link(path, LinkExpectation{.type = link_type_of(prog)});
    } catch (const PinMismatch& e) {
      spdlog::warn("lsm: {}: replacing it", e.what());
      remove_pins(std::span(&path, 1));
    }
    if (!bpf_program__autoload(prog)) {
      // A mechanism an earlier adamd used and this one does not.
      if (pinned) detach_pinned_link(std::move(pinned), what);
      continue;
    }
    if (pinned && cgroup && update_link_program(pinned.get(), bpf_program__fd(prog), what)) {
      links_[bpf_program__name(prog)] = std::move(pinned);
      continue;
    }
    if (cgroup && !cgroup_root_) {
      cgroup_mount_ = mon::cgroup2_mount();
      if (cgroup_mount_.empty())
        throw std::runtime_error("lsm: cgroup v2 is not mounted (no cgroup2 in /proc/mounts)");
      cgroup_root_ = UniqueFd(::open(cgroup_mount_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!cgroup_root_)
        throw std::runtime_error("lsm: opening the cgroup v2 root " + cgroup_mount_ +
                                 " failed: " + std::strerror(errno));
    }
    errno = 0;
    // On the cgroup root as links: the monitor's and others' programs run beside them.
    BpfLinkPtr link(cgroup ? bpf_program__attach_cgroup(prog, cgroup_root_.get())
                           : bpf_program__attach(prog));
    if (!link)
      throw std::runtime_error("lsm: attaching " + std::string(bpf_program__name(prog)) + " (" +
                               bpf_program__section_name(prog) + ") failed: " + libbpf_error(-errno));
    if (pinned) {
      link = replace_pinned_link(std::move(pinned), std::move(link), what);
    } else {
      link = pin_new_link(std::move(link), path, what);
      bpf_link* raw = link.get();
      undo.push(what, [this, name = std::string(bpf_program__name(prog)), raw, what] {
        auto it = links_.find(name);
        if (it != links_.end() && it->second.get() == raw) detach_pinned_link(std::move(it->second), what);
        links_.erase(name);
      });
    }
    links_[bpf_program__name(prog)] = std::move(link);
  }
}

uint32_t KernelEnforcer::active_generation() const {
  const __u32 zero = 0;
  __u32 active = 0;
  maps_.lookup(bpf_map__fd(skel_->maps.lsm_active), &zero, &active);
  return active & 1;
}

std::vector<KernelEnforcer::SlotHits> KernelEnforcer::read_slot_hits(uint32_t gen) const {
  const auto& m = skel_->maps;
  std::vector<SlotHits> out(ADAM_LSM_KINDS * ADAM_LSM_MAX_POLICIES);
  std::vector<adam_lsm_slot> all(ADAM_LSM_SLOT_ENTRIES);
  maps_.lookup_array(bpf_map__fd(m.lsm_slots), all.data(), ADAM_LSM_SLOT_ENTRIES);
  const std::vector<uint64_t> hits =
      sum_per_cpu_array<uint64_t>(maps_, bpf_map__fd(m.lsm_hits), ADAM_LSM_SLOT_ENTRIES);
  for (uint32_t i = 0; i < out.size(); ++i) {
    const uint32_t at = ADAM_LSM_SLOT_INDEX(gen, 0, 0) + i;
    out[i] = SlotHits{all[at], hits[at]};
  }
  return out;
}

void KernelEnforcer::write_generation(uint32_t gen, const std::vector<KindTables>& tables) {
  const auto& m = skel_->maps;
  const auto gen_of = [](const auto& key) -> uint32_t { return key.gen; };
  remove_generation<adam_lsm_uid_key>(maps_, bpf_map__fd(m.lsm_uids), gen, gen_of);
  remove_generation<adam_lsm_comm_key>(maps_, bpf_map__fd(m.lsm_comms), gen, gen_of);
  remove_generation<adam_lsm_cgroup_key>(maps_, bpf_map__fd(m.lsm_cgroups), gen, gen_of);
  remove_generation<adam_lsm_path_key>(maps_, bpf_map__fd(m.lsm_paths), gen,
                                       [](const adam_lsm_path_key& k) -> uint32_t { return k.table >> 3; });
  remove_generation<adam_lsm_addr_key>(maps_, bpf_map__fd(m.lsm_addrs), gen,
                                       [](const adam_lsm_addr_key& k) -> uint32_t { return k.table >> 2; });
  const std::vector<uint64_t> zeros(possible_cpus(), 0);
  for (uint32_t kind = 0; kind < ADAM_LSM_KINDS; ++kind) {
    const KindTables& t = tables[kind];
    write_entries(maps_, bpf_map__fd(m.lsm_paths), t.paths);
    write_entries(maps_, bpf_map__fd(m.lsm_uids), t.uids);
    write_entries(maps_, bpf_map__fd(m.lsm_comms), t.comms);
    write_entries(maps_, bpf_map__fd(m.lsm_cgroups), t.cgroups);
    write_entries(maps_, bpf_map__fd(m.lsm_addrs), t.addrs);
    for (uint32_t i = 0; i < t.port_starts.size(); ++i) {
      const __u32 at = ADAM_LSM_PORT_INDEX(gen, kind, i);
      maps_.update(bpf_map__fd(m.lsm_port_starts), &at, &t.port_starts[i]);
      maps_.update(bpf_map__fd(m.lsm_port_bitmaps), &at, &t.port_bitmaps[i]);
    }
    for (uint32_t slot = 0; slot < t.slots.size(); ++slot) {
      const __u32 at = ADAM_LSM_SLOT_INDEX(gen, kind, slot);
      maps_.update(bpf_map__fd(m.lsm_slots), &at, &t.slots[slot]);
      maps_.update(bpf_map__fd(m.lsm_hits), &at, zeros.data());
    }
    // Last: the header that makes the kind's entries count.
    const __u32 at = ADAM_LSM_KIND_INDEX(gen, kind);
    maps_.update(bpf_map__fd(m.lsm_kinds), &at, &t.table);
  }
}

void KernelEnforcer::apply(const std::vector<Policy>& policies) {
  const uint32_t old_gen = active_generation(), gen = old_gen ^ 1;
  // Everything that can refuse the set runs before the first write.
  std::array<std::vector<const Policy*>, ADAM_LSM_KINDS> by_kind;
  for (const Policy& p : policies)
    if (p.enabled && setup_.mechanism[static_cast<size_t>(p.kind)])
      by_kind[static_cast<size_t>(p.kind)].push_back(&p);
  // Slots by (priority, id), whatever order the caller keeps.
  for (auto& list : by_kind)
    std::stable_sort(list.begin(), list.end(), [](const Policy* a, const Policy* b) {
      return std::tie(a->priority, a->id) < std::tie(b->priority, b->id);
    });
  std::vector<KindTables> tables;
  size_t paths = 0, keys[3] = {}, addrs = 0;
  for (Kind kind : kAllKinds) {
    tables.push_back(compile_kind(kind, by_kind[static_cast<size_t>(kind)], gen));
    const KindTables& t = tables.back();
    paths += t.paths.size();
    keys[0] += t.uids.size();
    keys[1] += t.comms.size();
    keys[2] += t.cgroups.size();
    addrs += t.addrs.size();
    // Each generation has half of a shared map: the other holds the active set.
    auto check = [&](size_t have, size_t limit, const char* what) {
      if (have > limit / 2)
        throw ApiError(422, "unprocessable",
                       std::string("the policies need ") + std::to_string(have) + " " + what +
                           " entries, the kernel's tables hold " + std::to_string(limit / 2),
                       "kind");
    };
    check(paths, ADAM_LSM_MAX_PATHS, "path");
    check(keys[0], ADAM_LSM_MAX_KEYS, "uid");
    check(keys[1], ADAM_LSM_MAX_KEYS, "comm");
    check(keys[2], ADAM_LSM_MAX_KEYS, "cgroup");
    check(addrs, ADAM_LSM_MAX_ADDRS, "address");
  }
  // The inactive generation may still be read by hooks of the flip before.
  grace_.wait(maps_);
  write_generation(gen, tables);
  {
    std::lock_guard lock(mu_);
    for (const Policy& p : policies) names_[static_cast<uint32_t>(p.id)] = p.name;
  }
  const __u32 zero = 0;
  maps_.update(bpf_map__fd(skel_->maps.lsm_active), &zero, &gen);  // the flip
  grace_.wait(maps_);  // no hook counts into the old generation any more
  const std::vector<SlotHits> swapped_out = read_slot_hits(old_gen);
  std::lock_guard lock(mu_);
  for (uint32_t kind = 0; kind < ADAM_LSM_KINDS; ++kind) {
    for (uint32_t slot = 0; slot < policies_[kind]; ++slot) {
      const uint32_t i = kind * ADAM_LSM_MAX_POLICIES + slot;
      const SlotHits& sh = swapped_out[i];
      auto base = baseline_.find(i);
      const uint64_t n = sh.hits - (base != baseline_.end() ? std::min(base->second, sh.hits) : 0);
      Hits& h = folded_[sh.slot.policy_id];
      (sh.slot.action == ADAM_LSM_ACTION_DENY ? h.deny : h.audit) += n;
    }
    policies_[kind] = tables[kind].slots.size();
  }
  baseline_.clear();
}

std::map<int64_t, Hits> KernelEnforcer::hits() const {
  const uint32_t gen = active_generation();
  const std::vector<SlotHits> now = read_slot_hits(gen);
  std::lock_guard lock(mu_);
  std::map<int64_t, Hits> out = folded_;
  for (uint32_t kind = 0; kind < ADAM_LSM_KINDS; ++kind) {
    for (uint32_t slot = 0; slot < policies_[kind]; ++slot) {
      const uint32_t i = kind * ADAM_LSM_MAX_POLICIES + slot;
      auto base = baseline_.find(i);
      const uint64_t n = now[i].hits - (base != baseline_.end() ? std::min(base->second, now[i].hits) : 0);
      Hits& h = out[now[i].slot.policy_id];
      (now[i].slot.action == ADAM_LSM_ACTION_DENY ? h.deny : h.audit) += n;
    }
  }
  return out;
}

std::string KernelEnforcer::policy_name(uint32_t id) const {
  std::lock_guard lock(mu_);
  auto it = names_.find(id);
  return it == names_.end() ? std::string() : it->second;
}

uint64_t KernelEnforcer::lost(uint32_t reason) const {
  return sum_per_cpu<uint64_t>(maps_, bpf_map__fd(skel_->maps.lsm_lost), reason);
}

void KernelEnforcer::metrics(MetricsWriter& w) const {
  w.family("adam_lsm_kernel_programs", "gauge", "Programs of the lsm plugin attached in the kernel.");
  w.sample("adam_lsm_kernel_programs", {}, static_cast<double>(links_.size()));
}

nlohmann::json KernelEnforcer::stats() const {
  nlohmann::json programs = nlohmann::json::array();
  for (const auto& [name, link] : links_) programs.push_back(name);
  nlohmann::json mechanisms = nlohmann::json::object(), policies = nlohmann::json::object();
  for (Kind kind : kAllKinds) {
    const auto& m = setup_.mechanism[static_cast<size_t>(kind)];
    if (!m) continue;
    mechanisms[std::string(name_of(kind))] = std::string(name_of(*m));
    policies[std::string(name_of(kind))] = policies_[static_cast<size_t>(kind)];
  }
  return {{"programs", programs},
          {"mechanisms", mechanisms},
          {"policies", policies},
          {"generation", active_generation()},
          {"pin_dir", setup_.pin_dir},
          {"events_lost",
           {{"kernel", lost(ADAM_EVENT_LOST_RESERVE)}, {"rate_limit", lost(ADAM_EVENT_LOST_RATE_LIMIT)}}}};
}

}  // namespace

std::unique_ptr<Enforcer> make_kernel_enforcer(const KernelSetup& setup) {
  return std::make_unique<KernelEnforcer>(setup);
}

void remove_kernel_pins(const std::string& pin_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(pin_dir, ec)) return;
  std::vector<std::string> pins;
  for (const auto& entry : std::filesystem::directory_iterator(pin_dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.path().filename().string().starts_with(kLinkPrefix)) {
      try {
        BpfLinkPtr link(bpf_link__open(path.c_str()));
        if (link) detach_pinned_link(std::move(link), "the lsm link " + path);
      } catch (const std::exception& e) {
        spdlog::warn("lsm: {}", e.what());
      }
    }
    pins.push_back(path);
  }
  remove_pins(pins);
  std::filesystem::remove(pin_dir, ec);
}

}  // namespace adam::lsm
