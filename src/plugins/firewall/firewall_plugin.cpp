#include "plugins/firewall/firewall_plugin.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <system_error>

#include "core/bpf_handle.h"
#include "core/errors.h"
#include "core/kernel.h"
#include "core/xdp_chain.h"
#include "firewall.h"  // bpf/firewall.h: types shared with the BPF program
#include "firewall.skel.h"
#include "xdp_chain.h"  // bpf/xdp_chain.h: slot numbers

namespace adam {
namespace {

namespace fs = std::filesystem;

constexpr const char* kOwner = "firewall";

// Does a (pinned) map have the layout this build expects?
bool map_matches(int fd, bpf_map* expected, std::string& why) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd, &info, &len); err) {
    why = "cannot read its info: " + libbpf_error(err);
    return false;
  }
  if (info.type != static_cast<__u32>(bpf_map__type(expected)) ||
      info.key_size != bpf_map__key_size(expected) || info.value_size != bpf_map__value_size(expected) ||
      info.max_entries != bpf_map__max_entries(expected)) {
    why = "type " + std::to_string(info.type) + ", key " + std::to_string(info.key_size) + " B, value " +
          std::to_string(info.value_size) + " B, " + std::to_string(info.max_entries) + " entries";
    return false;
  }
  return true;
}

// Pins an incompatible earlier build left behind would make the load fail:
// drop them (their content is lost, which is logged).
void drop_incompatible_pin(const std::string& path, bpf_map* expected) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return;
  std::string why;
  if (map_matches(fd.get(), expected, why)) return;
  spdlog::warn("firewall: pinned map {} does not match this build ({}); replacing it", path, why);
  ::unlink(path.c_str());
}

}  // namespace

struct FirewallPlugin::Loaded {
  SkeletonPtr<firewall_bpf, firewall_bpf__destroy> skel;
};

FirewallPlugin::FirewallPlugin(PluginContext& ctx) : ctx_(ctx) {}

FirewallPlugin::~FirewallPlugin() = default;

std::string FirewallPlugin::name() const { return "firewall"; }

std::string FirewallPlugin::description() const {
  return "XDP firewall: filters the packets arriving on the chosen interfaces with ordered rule chains "
         "(every packet passes until rules are set) and counts packets and bytes per verdict.";
}

std::string FirewallPlugin::unsupported_reason(const KernelFeatures& features) const {
  if (features.has("xdp")) return "";
  return "XDP not supported by this kernel: " + features.detail("xdp");
}

std::string FirewallPlugin::pin_dir() const { return ctx_.pin_dir + "/firewall"; }

void FirewallPlugin::validate(const nlohmann::json& config) const {
  if (!config.is_object()) throw bad_request("", "the firewall's config must be a JSON object");
  for (const auto& [key, value] : config.items()) {
    if (key != "interfaces") throw bad_request(key, "unknown field '" + key + "'");
  }
  auto it = config.find("interfaces");
  if (it == config.end())
    throw bad_request("interfaces", "missing field 'interfaces' (the interfaces to filter, e.g. [\"eth0\"])");
  if (!it->is_array()) throw bad_request("interfaces", "'interfaces' must be an array of interface names");
  if (it->empty()) throw bad_request("interfaces", "'interfaces' must name at least one interface");
  if (it->size() > ADAM_FW_MAX_IFACES)
    throw bad_request("interfaces", "at most " + std::to_string(ADAM_FW_MAX_IFACES) + " interfaces");
  std::set<std::string> seen;
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string field = "interfaces[" + std::to_string(i) + "]";
    const auto& item = (*it)[i];
    if (!item.is_string()) throw bad_request(field, "must be a string (an interface name)");
    const std::string ifname = item.get<std::string>();
    if (!seen.insert(ifname).second) throw bad_request(field, "interface '" + ifname + "' is listed twice");
    XdpChain::ifindex_of(ifname, field);
  }
}

void FirewallPlugin::start(const nlohmann::json& config) {
  std::lock_guard lock(mu_);
  if (loaded_) throw conflict("the firewall is already running");
  validate(config);
  std::vector<std::string> ifnames;
  std::set<__u32> ifindexes;
  for (size_t i = 0; i < config["interfaces"].size(); ++i) {
    ifnames.push_back(config["interfaces"][i].get<std::string>());
    ifindexes.insert(XdpChain::ifindex_of(ifnames.back(), "interfaces[" + std::to_string(i) + "]"));
  }

  const std::string dir = pin_dir();
  const std::string totals_pin = dir + "/fw_totals";
  const std::string ifaces_pin = dir + "/fw_ifaces";
  std::error_code ec;
  const bool dir_existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("firewall: cannot create " + dir + ": " + ec.message());

  // Undo on failure: pins this start created go, pins of an earlier adamd stay.
  bool totals_existed = false, ifaces_existed = false, attached = false;
  auto undo = [&] {
    if (attached) {
      try {
        ctx_.xdp.set_interfaces(kOwner, {});
      } catch (const std::exception& e) {
        spdlog::warn("firewall: undoing the attach failed: {}", e.what());
      }
    }
    if (!totals_existed) ::unlink(totals_pin.c_str());
    if (!ifaces_existed) ::unlink(ifaces_pin.c_str());
    if (!dir_existed) ::rmdir(dir.c_str());
  };

  SkeletonPtr<firewall_bpf, firewall_bpf__destroy> skel(firewall_bpf__open());
  if (!skel) {
    int err = -errno;
    undo();
    throw std::runtime_error("firewall: cannot open its BPF object: " + libbpf_error(err));
  }
  drop_incompatible_pin(totals_pin, skel->maps.fw_totals);
  drop_incompatible_pin(ifaces_pin, skel->maps.fw_ifaces);
  totals_existed = fs::exists(totals_pin, ec);
  ifaces_existed = fs::exists(ifaces_pin, ec);

  auto fail = [&](const std::string& what, int err) {
    undo();
    throw std::runtime_error("firewall: " + what + ": " + libbpf_error(err));
  };
  int err = bpf_map__reuse_fd(skel->maps.adam_xdp_chain, ctx_.xdp.chain_fd());
  if (err) fail("cannot use the XDP chain", err);
  // With a pin path libbpf reuses the pinned map when there is one (the
  // counters of an earlier adamd continue), else it creates and pins it.
  if ((err = bpf_map__set_pin_path(skel->maps.fw_totals, totals_pin.c_str())))
    fail("cannot set a pin path", err);
  if ((err = bpf_map__set_pin_path(skel->maps.fw_ifaces, ifaces_pin.c_str())))
    fail("cannot set a pin path", err);
  if ((err = firewall_bpf__load(skel.get()))) fail("cannot load its XDP program", err);
  if (totals_existed) spdlog::info("firewall: re-adopted the pinned counters {}", totals_pin);

  // fw_ifaces: exactly the configured interfaces (clear entries of an earlier config).
  const int ifaces_fd = bpf_map__fd(skel->maps.fw_ifaces);
  std::vector<__u32> stale;
  __u32 key = 0, next = 0;
  for (bool first = true; bpf_map_get_next_key(ifaces_fd, first ? nullptr : &key, &next) == 0;
       first = false) {
    if (!ifindexes.count(next)) stale.push_back(next);
    key = next;
  }
  for (__u32 k : stale) bpf_map_delete_elem(ifaces_fd, &k);
  for (__u32 ifindex : ifindexes) {
    __u32 on = ADAM_FW_IFACE_ON;
    if ((err = bpf_map_update_elem(ifaces_fd, &ifindex, &on, BPF_ANY))) fail("cannot fill fw_ifaces", err);
  }

  try {
    ctx_.xdp.set_interfaces(kOwner, ifnames);
    attached = true;
    ctx_.xdp.install(ADAM_XDP_SLOT_FIREWALL, bpf_program__fd(skel->progs.adam_firewall));
  } catch (...) {
    undo();
    throw;
  }

  loaded_ = std::make_unique<Loaded>();
  loaded_->skel = std::move(skel);
  interfaces_ = ifnames;
  spdlog::info("firewall: running on {} interface(s)", ifnames.size());
}

void FirewallPlugin::stop() {
  std::lock_guard lock(mu_);
  // The slot is the firewall's own: empty it even when this object never ran
  // (the program of an earlier adamd may still be in it).
  ctx_.xdp.uninstall(ADAM_XDP_SLOT_FIREWALL);
  ctx_.xdp.set_interfaces(kOwner, {});
  loaded_.reset();
  interfaces_.clear();
  std::error_code ec;
  fs::remove_all(pin_dir(), ec);
  if (ec) throw std::runtime_error("firewall: cannot remove " + pin_dir() + ": " + ec.message());
  spdlog::info("firewall: stopped");
}

nlohmann::json FirewallPlugin::stats() const {
  std::lock_guard lock(mu_);
  __u64 packets[ADAM_FW_VERDICTS] = {}, bytes[ADAM_FW_VERDICTS] = {};

  UniqueFd pinned;
  int fd = -1;
  if (loaded_) {
    fd = bpf_map__fd(loaded_->skel->maps.fw_totals);
  } else {
    // Not running: the counters an earlier adamd pinned, if their layout is ours.
    pinned.reset(bpf_obj_get((pin_dir() + "/fw_totals").c_str()));
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (pinned && bpf_obj_get_info_by_fd(pinned.get(), &info, &len) == 0 &&
        info.type == BPF_MAP_TYPE_PERCPU_ARRAY && info.key_size == sizeof(__u32) &&
        info.value_size == sizeof(adam_fw_counter) && info.max_entries == ADAM_FW_VERDICTS)
      fd = pinned.get();
  }
  if (fd >= 0) {
    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus > 0) {
      std::vector<adam_fw_counter> values(static_cast<size_t>(ncpus));
      for (__u32 verdict = 0; verdict < ADAM_FW_VERDICTS; ++verdict) {
        if (bpf_map_lookup_elem(fd, &verdict, values.data()) != 0) continue;
        for (const auto& v : values) {
          packets[verdict] += v.packets;
          bytes[verdict] += v.bytes;
        }
      }
    }
  }
  return nlohmann::json{
      {"packets", {{"pass", packets[ADAM_FW_VERDICT_PASS]}, {"drop", packets[ADAM_FW_VERDICT_DROP]}}},
      {"bytes", {{"pass", bytes[ADAM_FW_VERDICT_PASS]}, {"drop", bytes[ADAM_FW_VERDICT_DROP]}}},
      {"interfaces", interfaces_},
  };
}

}  // namespace adam
