#include "plugins/monitor/monitor_kernel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/bpf_handle.h"
#include "core/bpf_maps.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "monitor.skel.h"
#include "plugins/monitor/monitor_decode.h"
#include "plugins/monitor/proc_scan.h"
#include "plugins/monitor/process_table.h"

namespace adam::mon {

using MonitorSkel = SkeletonPtr<monitor_bpf, monitor_bpf__destroy>;

// Declared in the order they are acquired: destroyed in reverse, so the
// programs are detached before the registration drains the ring buffer,
// and that before the maps close.
struct Kernel::Objects {
  MonitorSkel skel;
  std::unique_ptr<EventHub::Registration> events;
  UniqueFd cgroup_root;
  std::vector<BpfLinkPtr> links;
};

namespace {

void update(bpf_map* map, const void* key, const void* value, const std::string& what) {
  if (int err =
          bpf_map__update_elem(map, key, bpf_map__key_size(map), value, bpf_map__value_size(map), BPF_ANY))
    throw std::runtime_error("monitor: writing " + what + " into " + bpf_map__name(map) +
                             " failed: " + libbpf_error(err));
}

// The filter maps: what the config lists, each as a key with value 1.
void fill_filters(monitor_bpf& skel, const KernelConfig& config) {
  const uint8_t one = 1;
  for (const std::string& prefix : config.path_prefixes) {
    adam_mon_prefix_key key{};
    const size_t len = std::min(prefix.size(), sizeof key.path);
    std::memcpy(key.path, prefix.data(), len);
    key.prefixlen = static_cast<uint32_t>(len * 8);
    update(skel.maps.mon_prefixes, &key, &one, "the prefix " + prefix);
  }
  for (uint32_t uid : config.uids) update(skel.maps.mon_uids, &uid, &one, "uid " + std::to_string(uid));
  for (const std::string& comm : config.comms) {
    char key[ADAM_MON_COMM_LEN] = {};
    std::memcpy(key, comm.data(), std::min(comm.size(), sizeof key - 1));
    update(skel.maps.mon_comms, key, &one, "comm " + comm);
  }
  for (uint64_t id : config.cgroup_ids)
    update(skel.maps.mon_cgroups, &id, &one, "cgroup id " + std::to_string(id));
}

BpfLinkPtr attach(bpf_program* prog) {
  errno = 0;
  BpfLinkPtr link(bpf_program__attach(prog));
  if (!link)
    throw std::runtime_error(std::string("monitor: attaching ") + bpf_program__name(prog) + " (" +
                             bpf_program__section_name(prog) + ") failed: " + libbpf_error(-errno));
  return link;
}

}  // namespace

Kernel::Kernel(const KernelConfig& config, const KernelFeatures& features, const BootClock& clock,
               EventHub* hub, ProcessTable& table)
    : objects_(std::make_unique<Objects>()) {
  Objects& o = *objects_;
  o.skel.reset(monitor_bpf__open());
  if (!o.skel) throw std::runtime_error("monitor: opening its BPF object failed: " + libbpf_error(-errno));
  monitor_bpf& skel = *o.skel;

  // tp_btf reads the tracepoint's typed arguments directly; raw_tp is the
  // same code on kernels that refuse tp_btf. One set is loaded.
  const bool btf = features.has("tp_btf");
  hooks_ = btf ? "tp_btf" : "raw_tp";
  for (auto [btf_prog, raw_prog] : {std::pair{skel.progs.mon_exec_btf, skel.progs.mon_exec_raw},
                                    std::pair{skel.progs.mon_fork_btf, skel.progs.mon_fork_raw},
                                    std::pair{skel.progs.mon_exit_btf, skel.progs.mon_exit_raw}}) {
    bpf_program__set_autoload(btf_prog, btf);
    bpf_program__set_autoload(raw_prog, !btf);
  }
  // The connect and open hooks of a kind that is off are not even loaded:
  // an attached program costs every connect or open its call, and a
  // syscall tracepoint's dispatch alone is ~10 % of a cached open + close.
  // exec, fork and exit always run: they keep the lineage.
  const bool connects = config.kinds & ADAM_MON_KIND_BIT(ADAM_MON_CONNECT);
  for (bpf_program* p : {skel.progs.mon_connect4, skel.progs.mon_connect6, skel.progs.mon_connect_exit})
    bpf_program__set_autoload(p, connects);
  const bool opens = config.kinds & ADAM_MON_KIND_BIT(ADAM_MON_OPEN);
  for (bpf_program* p : {skel.progs.mon_openat_enter, skel.progs.mon_openat2_enter,
                         skel.progs.mon_openat_exit, skel.progs.mon_openat2_exit})
    bpf_program__set_autoload(p, opens);
  adam_mon_config& rodata = skel.rodata->mon_config;
  rodata.self_tgid = static_cast<uint32_t>(::getpid());
  rodata.ignore_self = config.ignore_self;
  rodata.kinds = config.kinds;
  rodata.args_max = std::min<uint32_t>(config.args_max, ADAM_MON_ARGS_MAX);
  rodata.filter_uids = !config.uids.empty();
  rodata.filter_comms = !config.comms.empty();
  rodata.filter_cgroups = !config.cgroup_ids.empty();
  if (int err = bpf_map__set_max_entries(skel.maps.mon_events, config.ring_buffer_kb * 1024))
    throw std::runtime_error("monitor: sizing the ring buffer failed: " + libbpf_error(err));
  if (int err = monitor_bpf__load(&skel))
    throw std::runtime_error("monitor: loading its BPF programs (" + hooks_ +
                             ") failed: " + libbpf_error(err));
  fill_filters(skel, config);

  if (hub) {
    o.events = hub->add_ring_buffer(RingBufferSource{
        "monitor", bpf_map__fd(skel.maps.mon_events), bpf_map__fd(skel.maps.mon_lost),
        [this, clock, &table](const adam_event_header& header, std::span<const std::byte> payload,
                              DecodedRecord& out) {
          MonitorEvent event;
          if (!decode_record(clock, header, payload, event)) return false;
          decoded_[header.kind].fetch_add(1, std::memory_order_relaxed);
          try {
            table.apply(event.kind, std::move(event.process), event.ts);
          } catch (const std::exception& e) {  // the event is still stored
            spdlog::warn("monitor: the process table refused a {}: {}", event.kind, e.what());
          }
          out.kind = event.kind;
          out.data = std::move(event.data);
          return true;
        }});
  }

  const std::string cgroup_mount = cgroup2_mount();
  if (cgroup_mount.empty())
    throw std::runtime_error("monitor: cgroup v2 is not mounted (no cgroup2 in /proc/mounts)");
  o.cgroup_root = UniqueFd(::open(cgroup_mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!o.cgroup_root)
    throw std::runtime_error("monitor: opening the cgroup v2 root " + cgroup_mount +
                             " failed: " + std::strerror(errno));
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel.obj) {
    if (!bpf_program__autoload(prog)) continue;
    if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR) {
      // A link: other programs of the root (the lsm plugin's) run beside it.
      BpfLinkPtr link(bpf_program__attach_cgroup(prog, o.cgroup_root.get()));
      if (!link)
        throw std::runtime_error(std::string("monitor: attaching ") + bpf_program__name(prog) + " to " +
                                 cgroup_mount + " failed: " + libbpf_error(-errno));
      o.links.push_back(std::move(link));
    } else {
      o.links.push_back(attach(prog));
    }
  }
  spdlog::info("monitor: {} programs attached ({} for exec, fork and exit; connect hooks on {})",
               o.links.size(), hooks_, cgroup_mount);
}

// The registration's decoder counts into decoded_: it goes first.
Kernel::~Kernel() { objects_.reset(); }

size_t Kernel::seed(const std::vector<ScannedProcess>& processes) {
  const int fd = bpf_map__fd(objects_->skel->maps.mon_procs);
  size_t added = 0;
  for (const ScannedProcess& p : processes) {
    const uint32_t tgid = p.entry.self.tgid;
    // EEXIST: the programs saw this process since they were attached.
    if (bpf_map_update_elem(fd, &tgid, &p.entry, BPF_NOEXIST) == 0) ++added;
  }
  return added;
}

std::optional<adam_proc_entry> Kernel::known(uint32_t tgid) const {
  adam_proc_entry entry{};
  if (bpf_map_lookup_elem(bpf_map__fd(objects_->skel->maps.mon_procs), &tgid, &entry) != 0)
    return std::nullopt;
  return entry;
}

uint64_t Kernel::kernel_lost() const {
  std::vector<uint64_t> per_cpu(possible_cpus());
  const uint32_t slot = ADAM_EVENT_LOST_RESERVE;
  if (bpf_map_lookup_elem(bpf_map__fd(objects_->skel->maps.mon_lost), &slot, per_cpu.data()) != 0) return 0;
  uint64_t sum = 0;
  for (uint64_t n : per_cpu) sum += n;
  return sum;
}

size_t Kernel::kernel_processes() const {
  const int fd = bpf_map__fd(objects_->skel->maps.mon_procs);
  size_t count = 0;
  uint32_t key = 0, next = 0;
  for (const uint32_t* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    key = next;
    ++count;
  }
  return count;
}

}  // namespace adam::mon
