#include "plugins/firewall/firewall_plugin.h"

#include <net/if.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <system_error>

#include "core/errors.h"
#include "core/kernel.h"
#include "core/xdp_chain.h"
#include "firewall.h"  // bpf/firewall.h: limits shared with the BPF program
#include "plugins/firewall/classifier.h"
#include "plugins/firewall/datapath.h"
#include "plugins/firewall/rule_store.h"
#include "xdp_chain.h"  // bpf/xdp_chain.h: slot numbers

namespace adam {
namespace {

namespace fs = std::filesystem;

constexpr const char* kOwner = "firewall";

// The ifindexes (in adamd's network namespace) of the interfaces the rules name.
fw::IfindexMap resolve_interfaces(const fw::Ruleset& ruleset) {
  fw::IfindexMap ifindexes;
  for (const fw::Rule& rule : ruleset.rules) {
    for (const std::string& name : rule.match.iface) {
      if (unsigned ifindex = if_nametoindex(name.c_str()); ifindex != 0) ifindexes[name] = ifindex;
    }
  }
  return ifindexes;
}

nlohmann::json counter_json(const fw::Counter& c) { return {{"packets", c.packets}, {"bytes", c.bytes}}; }

// The config's "xdp_mode" (optional, default "auto"): how the XDP chain's root
// program is attached to the firewall's interfaces (XdpMode).
XdpMode xdp_mode_of(const nlohmann::json& config) {
  auto it = config.find("xdp_mode");
  if (it == config.end()) return XdpMode::automatic;
  if (!it->is_string())
    throw bad_request("xdp_mode", "'xdp_mode' must be \"native\", \"generic\" or \"auto\"");
  return xdp_mode_from_string(it->get<std::string>(), "xdp_mode");
}

}  // namespace

FirewallPlugin::FirewallPlugin(PluginContext& ctx) : ctx_(ctx) {
  if (!ctx.db) return;
  rules_ = std::make_unique<fw::RuleStore>(*ctx.db, [this](const fw::Ruleset& ruleset) { apply(ruleset); });
  try {
    apply(rules_->ruleset());  // not running yet: remembered for start()
  } catch (const std::exception& e) {
    // adamd must still come up so the operator can fix the rules through the
    // API; meanwhile a re-adopted program keeps enforcing its pinned ruleset.
    spdlog::error("firewall: the stored ruleset cannot be applied: {}", e.what());
  }
}

FirewallPlugin::~FirewallPlugin() = default;

std::string FirewallPlugin::name() const { return "firewall"; }

std::string FirewallPlugin::description() const {
  return "XDP firewall: filters the packets arriving on the chosen interfaces with ordered rule chains "
         "(every packet passes until rules are set) and counts packets and bytes per rule and per verdict.";
}

std::string FirewallPlugin::unsupported_reason(const KernelFeatures& features) const {
  if (features.has("xdp")) return "";
  return "XDP not supported by this kernel: " + features.detail("xdp");
}

std::string FirewallPlugin::pin_dir() const { return ctx_.pin_dir + "/firewall"; }

void FirewallPlugin::validate(const nlohmann::json& config) const {
  if (!config.is_object()) throw bad_request("", "the firewall's config must be a JSON object");
  for (const auto& [key, value] : config.items()) {
    if (key == "xdp_mode") continue;  // checked by xdp_mode_of() below
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
  xdp_mode_of(config);
}

void FirewallPlugin::start(const nlohmann::json& config) {
  std::lock_guard lock(mu_);
  if (datapath_) throw conflict("the firewall is already running");
  validate(config);
  std::vector<std::string> ifnames;
  std::set<__u32> ifindexes;
  for (size_t i = 0; i < config["interfaces"].size(); ++i) {
    ifnames.push_back(config["interfaces"][i].get<std::string>());
    ifindexes.insert(XdpChain::ifindex_of(ifnames.back(), "interfaces[" + std::to_string(i) + "]"));
  }

  const std::string dir = pin_dir();
  std::error_code ec;
  const bool dir_existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("firewall: cannot create " + dir + ": " + ec.message());

  // Undo on failure: pins this start created go, pins of an earlier adamd stay.
  std::unique_ptr<fw::Datapath> datapath;
  bool attached = false;
  auto undo = [&] {
    if (attached) {
      try {
        ctx_.xdp.set_interfaces(kOwner, {});
      } catch (const std::exception& e) {
        spdlog::warn("firewall: undoing the attach failed: {}", e.what());
      }
    }
    if (datapath) {
      for (const std::string& pin : datapath->created_pins()) ::unlink(pin.c_str());
    }
    if (!dir_existed) fs::remove_all(dir, ec);
  };
  try {
    datapath = std::make_unique<fw::Datapath>(ctx_.xdp.chain_fd(), dir);
    datapath->set_interfaces(ifindexes);
    if (ruleset_) datapath->apply(*ruleset_, resolve_interfaces(*ruleset_));
    ctx_.xdp.set_interfaces(kOwner, ifnames, xdp_mode_of(config));
    attached = true;
    ctx_.xdp.install(ADAM_XDP_SLOT_FIREWALL, datapath->prog_fd());
  } catch (...) {
    undo();
    throw;
  }

  datapath_ = std::move(datapath);
  interfaces_ = ifnames;
  spdlog::info("firewall: running on {} interface(s)", ifnames.size());
}

void FirewallPlugin::stop() {
  std::lock_guard lock(mu_);
  // The slot is the firewall's own: empty it even when this object never ran
  // (the program of an earlier adamd may still be in it).
  ctx_.xdp.uninstall(ADAM_XDP_SLOT_FIREWALL);
  ctx_.xdp.set_interfaces(kOwner, {});
  datapath_.reset();
  interfaces_.clear();
  std::error_code ec;
  fs::remove_all(pin_dir(), ec);
  if (ec) throw std::runtime_error("firewall: cannot remove " + pin_dir() + ": " + ec.message());
  spdlog::info("firewall: stopped");
}

fw::Totals FirewallPlugin::totals() const {
  std::lock_guard lock(mu_);
  // Not running: the counters an earlier adamd pinned, if any.
  return datapath_ ? datapath_->totals() : fw::Datapath::pinned_totals(pin_dir());
}

nlohmann::json FirewallPlugin::stats() const {
  const fw::Totals totals = this->totals();
  std::lock_guard lock(mu_);
  const auto rule_counters =
      datapath_ ? datapath_->rule_counters() : fw::Datapath::pinned_rule_counters(pin_dir());
  nlohmann::json rules = nlohmann::json::object();
  for (const auto& [id, counter] : rule_counters) rules[std::to_string(id)] = counter_json(counter);
  return nlohmann::json{
      {"packets", {{"pass", totals.pass.packets}, {"drop", totals.drop.packets}}},
      {"bytes", {{"pass", totals.pass.bytes}, {"drop", totals.drop.bytes}}},
      {"interfaces", interfaces_},
      {"rules", rules},
  };
}

void FirewallPlugin::apply(const fw::Ruleset& ruleset) {
  std::lock_guard lock(mu_);
  const fw::IfindexMap ifindexes = resolve_interfaces(ruleset);
  try {
    if (datapath_)
      datapath_->apply(ruleset, ifindexes);
    else  // refuse now what start() could not apply
      fw::compile(ruleset, ifindexes, fw::assign_counter_slots({}, ruleset));
  } catch (const std::invalid_argument& e) {
    throw ApiError(422, "unprocessable", e.what(), "rules");
  }
  ruleset_ = ruleset;
}

fw::Decision FirewallPlugin::explain(const fw::PacketKey& packet, const std::string& iface) {
  std::lock_guard lock(mu_);
  if (!datapath_) throw unavailable("the firewall is not running");
  const std::string ifname = iface.empty() ? interfaces_.front() : iface;
  const uint32_t ifindex = XdpChain::ifindex_of(ifname, "iface");
  try {
    return datapath_->explain(packet, ifindex);
  } catch (const fw::InvalidPacket& e) {
    throw bad_request(e.field(), e.what());
  }
}

}  // namespace adam
