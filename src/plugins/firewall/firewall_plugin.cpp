#include "plugins/firewall/firewall_plugin.h"

#include <bpf/bpf.h>
#include <net/if.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <stdexcept>
#include <system_error>

#include "adam/firewall.h"   // limits shared with the BPF program
#include "adam/xdp_chain.h"  // slot numbers
#include "core/bpf_pins.h"
#include "core/config_schema.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "core/tcx_ingress.h"
#include "core/undo.h"
#include "core/xdp_chain.h"
#include "plugins/firewall/classifier.h"
#include "plugins/firewall/datapath.h"
#include "plugins/firewall/log_event.h"
#include "plugins/firewall/rule_store.h"

namespace adam {
namespace {

namespace fs = std::filesystem;

constexpr const char* kOwner = "firewall";

// The ifindexes (in adamd's network namespace) of the interfaces `rules`
// name. Each distinct name is looked up once (if_nametoindex opens a socket
// and asks the kernel): a 10,000-rule ruleset names a handful of interfaces.
template <typename Rules>
fw::IfindexMap resolve_interfaces(const Rules& rules) {
  fw::IfindexMap ifindexes;
  std::set<std::string> tried;
  for (const fw::Rule& rule : rules) {
    for (const std::string& name : rule.match.iface) {
      if (!tried.insert(name).second) continue;
      if (unsigned ifindex = if_nametoindex(name.c_str()); ifindex != 0) ifindexes[name] = ifindex;
    }
  }
  return ifindexes;
}

nlohmann::json counter_json(const fw::Counter& c) { return {{"packets", c.packets}, {"bytes", c.bytes}}; }

// The config's log rate limits (events per second): per rule, and over all rules.
constexpr const char* kLogRate = "log_rate";
constexpr const char* kLogRateTotal = "log_rate_total";
constexpr uint32_t kDefaultLogRate = 1000;
constexpr uint32_t kDefaultLogRateTotal = 20000;
// Far above what the store ingests (docs/events.md), far below the __u32 of
// the kernel's config.
constexpr uint64_t kMaxLogRate = 10'000'000;

// The limit `field` of the config (checked by the schema), `fallback` when absent.
uint32_t log_rate(const nlohmann::json& config, const char* field, uint32_t fallback) {
  return config.value(field, fallback);
}

// The config's "xdp_mode" (optional, default "auto"): how the XDP chain's root
// program is attached to the firewall's XDP interfaces (XdpMode).
XdpMode xdp_mode_of(const nlohmann::json& config) {
  auto it = config.find("xdp_mode");
  if (it == config.end()) return XdpMode::automatic;
  return xdp_mode_from_string(it->get<std::string>(), "xdp_mode");
}

// Where the firewall hooks into an interface's receive path: the config's
// "hook" (optional, default "auto").
//   xdp  — the XDP chain (in its "xdp_mode");
//   tc   — tc ingress, through a tcx link (Linux 6.6+);
//   auto — tc on a veth when the kernel has tcx and no "xdp_mode" is asked
//          for, XDP elsewhere. On veth every XDP mode copies the packets the
//          local stack sends through the pair; at tc the skb is already
//          built (docs/firewall.md, "Where the firewall hooks in").
enum class Hook { automatic, xdp, tc };

Hook hook_of(const nlohmann::json& config) {
  const std::string text = config.value("hook", "auto");
  return text == "xdp" ? Hook::xdp : text == "tc" ? Hook::tc : Hook::automatic;
}

// Whether interface `ifname` gets the tc entry point rather than XDP.
bool hooks_at_tc(const nlohmann::json& config, const std::string& ifname, const KernelFeatures& features) {
  switch (hook_of(config)) {
    case Hook::tc:
      return true;
    case Hook::xdp:
      return false;
    case Hook::automatic:
      return !config.contains("xdp_mode") && features.has("tcx") && interface_driver(ifname) == "veth";
  }
  return false;
}

}  // namespace

FirewallPlugin::FirewallPlugin(PluginContext& ctx) : ctx_(ctx) {
  if (ctx.db) {
    rules_ = std::make_unique<fw::RuleStore>(
        *ctx.db, [this](const fw::Ruleset& ruleset, uint32_t added) { apply(ruleset, added); });
    try {
      apply(rules_->ruleset());  // not running yet: remembered for start()
    } catch (const std::exception& e) {
      // adamd must still come up so the operator can fix the rules through
      // the API; meanwhile a re-adopted program keeps enforcing its pinned
      // ruleset.
      spdlog::error("firewall: the stored ruleset cannot be applied: {}", e.what());
    }
  }
  compactor_ = std::thread([this] { compact_loop(); });
}

FirewallPlugin::~FirewallPlugin() {
  {
    std::lock_guard lock(mu_);
    compact_stop_ = true;
  }
  compact_cv_.notify_all();
  compactor_.join();
  // Added rules not yet compiled stay in the pinned tables, enforced; the
  // next start() recompiles them.
}

void FirewallPlugin::compact_loop() {
  std::unique_lock lock(mu_);
  while (!compact_stop_) {
    const uint32_t added = datapath_ && ruleset_ ? datapath_->added_rules() : 0;
    if (added == 0 || compact_failed_) {
      compact_cv_.wait(lock);
      continue;
    }
    // A burst of additions fills the table: fold it in before it is full.
    const auto due = added >= kCompactWhen ? last_change_ : last_change_ + kCompactAfter;
    if (std::chrono::steady_clock::now() < due) {
      compact_cv_.wait_until(lock, due);
      continue;
    }
    lock.unlock();
    compact();
    lock.lock();
  }
}

void FirewallPlugin::compact() {
  std::lock_guard tables(tables_mu_);
  std::unique_lock lock(mu_);
  if (!datapath_ || !ruleset_ || datapath_->added_rules() == 0) return;  // stopped, or applied meanwhile
  fw::Datapath& datapath = *datapath_;                                   // stop() waits for tables_mu_
  try {
    fw::Datapath::Staged staged = datapath.stage(*ruleset_, resolve_interfaces(ruleset_->rules));
    lock.unlock();  // the compile and the write of the inactive generation take long: add() goes on
    datapath.build(staged);
    lock.lock();
    datapath.commit(staged);
  } catch (const std::exception& e) {
    // The added rules keep being enforced from their table; the next change
    // tries again.
    if (!lock.owns_lock()) lock.lock();
    compact_failed_ = true;
    spdlog::warn("firewall: recompiling the ruleset with its added rules failed: {}", e.what());
  }
}

std::string FirewallPlugin::name() const { return "firewall"; }

std::string FirewallPlugin::description() const {
  return "XDP firewall: filters the packets arriving on the chosen interfaces with ordered rule chains (at "
         "XDP, or at tc ingress on veth; every packet passes until rules are set), counts packets and bytes "
         "per "
         "rule and per verdict, and logs the packets of rules with log: true as events (rate-limited in the "
         "kernel).";
}

std::string FirewallPlugin::unsupported_reason(const KernelFeatures& features) const {
  if (features.has("xdp")) return "";
  return "XDP not supported by this kernel: " + features.detail("xdp");
}

std::string FirewallPlugin::pin_dir() const { return ctx_.pin_dir + "/firewall"; }

nlohmann::json FirewallPlugin::config_schema() const {
  using Field = ConfigSchema::Field;
  ConfigSchema schema;
  schema.field({.name = "interfaces",
                .type = "array",
                .items = "string",
                .help = "the interfaces whose arriving packets are filtered, e.g. eth0",
                .required = true,
                .min_items = 1,
                .max_items = ADAM_FW_MAX_IFACES});
  schema.field({.name = "hook",
                .type = "string",
                .help =
                    "where packets meet the firewall: xdp, tc (tc ingress, Linux 6.6+) or auto (tc on veth, "
                    "where every XDP mode copies packets; XDP elsewhere)",
                .default_value = "auto",
                .choices = {"auto", "xdp", "tc"}});
  schema.field(
      {.name = "xdp_mode",
       .type = "string",
       .help = "how the XDP hook is attached: native (in the driver), generic (after the skb is built) or "
               "auto (native where the driver has it); not with hook tc",
       .default_value = "auto",
       .choices = {"auto", "native", "generic"}});
  for (auto [field, fallback, what] : {std::tuple{kLogRate, kDefaultLogRate, "per rule"},
                                       std::tuple{kLogRateTotal, kDefaultLogRateTotal, "over all rules"}})
    schema.field(
        Field{.name = field,
              .type = "integer",
              .help = std::string("log events per second ") + what + " (0: none), limited in the kernel",
              .default_value = fallback,
              .minimum = 0,
              .maximum = kMaxLogRate});
  return schema.to_json();
}

std::vector<std::string> FirewallPlugin::interfaces(const nlohmann::json& config) const {
  std::vector<std::string> out;
  for (const auto& name : config.at("interfaces")) out.push_back(name.get<std::string>());
  return out;
}

void FirewallPlugin::validate(const nlohmann::json& config) const {
  Plugin::validate(config);  // fields, types, enums, bounds
  const auto it = config.find("interfaces");
  std::set<std::string> seen;
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string field = "interfaces[" + std::to_string(i) + "]";
    const std::string ifname = (*it)[i].get<std::string>();
    if (!seen.insert(ifname).second) throw bad_request(field, "interface '" + ifname + "' is listed twice");
    XdpChain::ifindex_of(ifname, field);
  }
  if (hook_of(config) == Hook::tc) {
    if (config.contains("xdp_mode"))
      throw bad_request("xdp_mode", "'xdp_mode' applies to the XDP hook, and 'hook' is \"tc\"");
    if (!ctx_.features.has("tcx"))
      throw bad_request(
          "hook", "'hook' \"tc\" needs tcx links, which this kernel lacks: " + ctx_.features.detail("tcx"));
  }
}

void FirewallPlugin::start(const nlohmann::json& config) {
  std::lock_guard tables(tables_mu_);
  std::lock_guard lock(mu_);
  if (datapath_) throw conflict("the firewall is already running");
  // `config` passed validate(): the plugin manager validates before it starts.
  std::vector<std::string> ifnames, xdp_ifnames;
  std::map<std::string, uint32_t> tc_ifaces;
  std::set<__u32> ifindexes;
  const nlohmann::json& interfaces = config.at("interfaces");
  for (size_t i = 0; i < interfaces.size(); ++i) {
    const std::string ifname = interfaces[i].get<std::string>();
    const uint32_t ifindex = XdpChain::ifindex_of(ifname, "interfaces[" + std::to_string(i) + "]");
    ifnames.push_back(ifname);
    ifindexes.insert(ifindex);
    if (hooks_at_tc(config, ifname, ctx_.features))
      tc_ifaces[ifname] = ifindex;
    else
      xdp_ifnames.push_back(ifname);
  }

  std::unique_ptr<fw::Datapath> datapath;
  std::unique_ptr<EventHub::Registration> events;  // declared after datapath: gone before its maps close
  std::unique_ptr<TcxIngress> tcx;
  // What this start acquires, undone in reverse if it fails: pins of an
  // earlier adamd stay. Declared after the objects its steps use.
  UndoStack undo;

  const std::string dir = pin_dir();
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("firewall: cannot create " + dir + ": " + ec.message());
    undo.push("the pin dir " + dir, [dir] {
      std::error_code ec;
      fs::remove_all(dir, ec);
    });
  }

  datapath = std::make_unique<fw::Datapath>(ctx_.xdp.chain_fd(), dir);
  undo.push("the firewall's new map pins", [pins = datapath->created_pins()] { remove_pins(pins); });
  datapath->set_interfaces(ifindexes);
  if (ruleset_) datapath->apply(*ruleset_, resolve_interfaces(ruleset_->rules));
  datapath->set_log_limits(log_rate(config, kLogRate, kDefaultLogRate),
                           log_rate(config, kLogRateTotal, kDefaultLogRateTotal));
  // Before the program goes in: a re-adopted ring buffer may already hold
  // the events of the program an earlier adamd left running.
  if (ctx_.events) {
    events = ctx_.events->add_ring_buffer(RingBufferSource{
        kOwner, datapath->events_fd(), datapath->events_lost_fd(),
        [names = fw::InterfaceNames{}](const adam_event_header& header, std::span<const std::byte> payload,
                                       DecodedRecord& out) mutable {
          return fw::decode_log_event(header, payload, out, names);
        }});
  }
  // An interface that changes hooks gets the new one before it leaves the
  // old: for a moment both classify its packets, none passes unfiltered.
  tcx = std::make_unique<TcxIngress>(dir);  // re-adopts the links of an earlier adamd
  for (const std::string& ifname : tcx->attach(tc_ifaces, datapath->tc_prog_fd()))
    undo.push("the tc link of '" + ifname + "'", [&tcx, ifname] { tcx->detach(ifname); });
  ctx_.xdp.set_interfaces(kOwner, xdp_ifnames, xdp_mode_of(config));
  undo.push("the firewall's XDP interfaces", [this] { ctx_.xdp.set_interfaces(kOwner, {}); });
  // The slot's program until now (an earlier adamd's, or none), held so that
  // the undo can put it back.
  auto previous =
      std::make_shared<UniqueFd>(bpf_prog_get_fd_by_id(ctx_.xdp.slot_prog_id(ADAM_XDP_SLOT_FIREWALL)));
  ctx_.xdp.install(ADAM_XDP_SLOT_FIREWALL, datapath->prog_fd());
  undo.push("the firewall's slot of the XDP chain", [this, previous] {
    if (*previous)
      ctx_.xdp.install(ADAM_XDP_SLOT_FIREWALL, previous->get());
    else
      ctx_.xdp.uninstall(ADAM_XDP_SLOT_FIREWALL);
  });
  std::set<std::string> tc_names;
  for (const auto& [ifname, ifindex] : tc_ifaces) tc_names.insert(ifname);
  tcx->keep_only(tc_names);
  undo.dismiss();

  datapath_ = std::move(datapath);
  events_ = std::move(events);
  tcx_ = std::move(tcx);
  interfaces_ = ifnames;
  spdlog::info("firewall: running on {} interface(s), {} at tc ingress", ifnames.size(), tc_ifaces.size());
}

void FirewallPlugin::reconfigure(const nlohmann::json& config) {
  {
    std::lock_guard tables(tables_mu_);
    std::lock_guard lock(mu_);
    events_.reset();  // the ring buffer keeps what arrives meanwhile
    datapath_.reset();
    tcx_.reset();
    interfaces_.clear();
  }
  // Meanwhile apply() only remembers a ruleset, which start() then applies.
  start(config);
}

void FirewallPlugin::stop() {
  std::lock_guard tables(tables_mu_);
  std::lock_guard lock(mu_);
  // The slot is the firewall's own: empty it even when this object never ran
  // (the program of an earlier adamd may still be in it).
  ctx_.xdp.uninstall(ADAM_XDP_SLOT_FIREWALL);
  ctx_.xdp.set_interfaces(kOwner, {});
  // So are the tc links: those of an earlier adamd too.
  if (!tcx_ && fs::exists(pin_dir())) tcx_ = std::make_unique<TcxIngress>(pin_dir());
  if (tcx_) tcx_->detach_all();
  tcx_.reset();
  events_.reset();  // drains the ring buffer: no program writes to it any more
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

nlohmann::json FirewallPlugin::counters() const {
  const fw::Totals t = totals();
  return {{"passed packets", t.pass.packets}, {"dropped packets", t.drop.packets}};
}

nlohmann::json FirewallPlugin::event_links(const std::string& kind, const nlohmann::json& data) const {
  const auto rule = data.find("rule_id");
  if (kind.rfind("firewall.", 0) != 0 || rule == data.end() || !rule->is_number_unsigned() || *rule == 0)
    return nlohmann::json::object();
  return {{"rule", "/api/v1/firewall/rules/" + std::to_string(rule->get<uint64_t>())}};
}

nlohmann::json FirewallPlugin::all_rule_counters() const {
  std::lock_guard lock(mu_);
  nlohmann::json rules = nlohmann::json::object();
  for (const auto& [id, counter] : locked_rule_counter_map())
    rules[std::to_string(id)] = counter_json(counter);
  return rules;
}

nlohmann::json FirewallPlugin::stats() const {
  const fw::Totals totals = this->totals();
  std::lock_guard lock(mu_);
  return nlohmann::json{
      {"packets", {{"pass", totals.pass.packets}, {"drop", totals.drop.packets}}},
      {"bytes", {{"pass", totals.pass.bytes}, {"drop", totals.drop.bytes}}},
      {"interfaces", interfaces_},
      {"hooks", hooks_json()},
      // Rules the kernel matches from its added-rules table until the
      // ruleset is recompiled (kCompactAfter after the last change).
      {"added_rules", datapath_ ? datapath_->added_rules() : 0},
  };
}

std::string FirewallPlugin::summary() const {
  std::lock_guard lock(mu_);
  std::string line;
  for (const auto& h : hooks_json()) {
    line +=
        (line.empty() ? "" : " ") + h["interface"].get<std::string>() + "@" + h["hook"].get<std::string>();
    if (h.contains("xdp_mode")) line += "/" + h["xdp_mode"].get<std::string>();
  }
  return line;
}

void FirewallPlugin::metrics(MetricsWriter& w) const {
  const fw::Totals totals = this->totals();  // the two verdict counters, never the per-rule ones
  std::lock_guard lock(mu_);
  w.family("adam_firewall_packets_total", "counter", "Packets the firewall decided, by verdict.");
  w.sample("adam_firewall_packets_total", {{"verdict", "pass"}}, static_cast<double>(totals.pass.packets));
  w.sample("adam_firewall_packets_total", {{"verdict", "drop"}}, static_cast<double>(totals.drop.packets));
  w.family("adam_firewall_bytes_total", "counter", "Bytes of the packets the firewall decided, by verdict.");
  w.sample("adam_firewall_bytes_total", {{"verdict", "pass"}}, static_cast<double>(totals.pass.bytes));
  w.sample("adam_firewall_bytes_total", {{"verdict", "drop"}}, static_cast<double>(totals.drop.bytes));
  w.family("adam_firewall_rules", "gauge", "Rules in the applied ruleset, enabled or not.");
  w.sample("adam_firewall_rules", {}, ruleset_ ? static_cast<double>(ruleset_->rules.size()) : 0);
  w.family("adam_firewall_added_rules", "gauge",
           "Rules matched from the kernel's added-rules table until the next recompile.");
  w.sample("adam_firewall_added_rules", {}, datapath_ ? datapath_->added_rules() : 0);
  w.family("adam_firewall_hook_info", "gauge",
           "1 for each interface the firewall filters, with where it hooks in.");
  for (const auto& h : hooks_json())
    w.sample("adam_firewall_hook_info",
             {{"interface", h["interface"].get<std::string>()},
              {"hook", h["hook"].get<std::string>()},
              {"xdp_mode", h.value("xdp_mode", "")}},
             1);
}

void FirewallPlugin::apply(const fw::Ruleset& ruleset, uint32_t added) {
  // Through the kernel's added-rules table when it can take the rule.
  auto try_add = [&] {
    if (!added || !datapath_ || !ruleset_ || ruleset_->default_action != ruleset.default_action ||
        !add(ruleset, added))
      return false;
    last_change_ = std::chrono::steady_clock::now();
    compact_failed_ = false;
    compact_cv_.notify_all();
    return true;
  };
  try {
    {
      std::lock_guard lock(mu_);
      if (try_add()) return;
    }
    // A full table is being folded into the compiled tables: that recompile
    // ends sooner than one of our own would, and leaves room.
    std::lock_guard tables(tables_mu_);
    std::lock_guard lock(mu_);
    if (try_add()) return;
    const fw::IfindexMap ifindexes = resolve_interfaces(ruleset.rules);
    if (datapath_)
      datapath_->apply(ruleset, ifindexes);
    else  // refuse now what start() could not apply
      fw::compile(ruleset, ifindexes, fw::assign_counter_slots({}, ruleset));
    ruleset_ = ruleset;
    compact_failed_ = false;
  } catch (const std::invalid_argument& e) {
    throw ApiError(422, "unprocessable", e.what(), "rules");
  }
}

bool FirewallPlugin::add(const fw::Ruleset& ruleset, uint32_t id) {
  // Added rules are appended: look from the end.
  auto rule = std::find_if(ruleset.rules.rbegin(), ruleset.rules.rend(),
                           [id](const fw::Rule& r) { return r.id == id; });
  if (rule == ruleset.rules.rend()) return false;
  if (!datapath_->add(*rule, resolve_interfaces(std::span(&*rule, 1)))) return false;
  // ruleset_ becomes `ruleset` without a copy of every rule.
  auto known = std::find_if(ruleset_->rules.begin(), ruleset_->rules.end(),
                            [id](const fw::Rule& r) { return r.id == id; });
  if (known != ruleset_->rules.end())
    *known = *rule;
  else
    ruleset_->rules.push_back(*rule);
  return true;
}

nlohmann::json FirewallPlugin::hooks_json() const {
  std::map<std::string, XdpMode> xdp_modes;
  for (const XdpInterface& i : ctx_.xdp.interfaces())
    if (i.owners.count(kOwner)) xdp_modes[i.ifname] = i.mode;
  const std::set<std::string> tc = tcx_ ? tcx_->interfaces() : std::set<std::string>{};
  nlohmann::json hooks = nlohmann::json::array();
  for (const std::string& ifname : interfaces_) {
    if (tc.count(ifname))
      hooks.push_back({{"interface", ifname}, {"hook", "tc"}});
    else if (auto it = xdp_modes.find(ifname); it != xdp_modes.end())
      hooks.push_back({{"interface", ifname}, {"hook", "xdp"}, {"xdp_mode", to_string(it->second)}});
  }
  return hooks;
}

nlohmann::json FirewallPlugin::rule_counters(uint32_t id) const {
  std::lock_guard lock(mu_);
  std::optional<fw::Counter> counter;
  if (datapath_) {
    counter = datapath_->rule_counter(id);
  } else {
    const auto pinned = fw::Datapath::pinned_rule_counters(pin_dir());
    if (auto it = pinned.find(id); it != pinned.end()) counter = it->second;
  }
  return counter ? counter_json(*counter) : nlohmann::json();
}

std::map<uint32_t, fw::Counter> FirewallPlugin::locked_rule_counter_map() const {
  return datapath_ ? datapath_->rule_counters() : fw::Datapath::pinned_rule_counters(pin_dir());
}

std::map<uint32_t, fw::Counter> FirewallPlugin::rule_counter_map() const {
  std::lock_guard lock(mu_);
  return locked_rule_counter_map();
}

nlohmann::json FirewallPlugin::rule_counters(const std::vector<uint32_t>& ids) const {
  // Past this many, one batched read of all costs less than a lookup each.
  constexpr size_t kLookupsAtMost = 256;
  nlohmann::json out = nlohmann::json::object();
  std::lock_guard lock(mu_);
  if (datapath_ && ids.size() <= kLookupsAtMost) {
    for (uint32_t id : ids)
      if (auto counter = datapath_->rule_counter(id)) out[std::to_string(id)] = counter_json(*counter);
    return out;
  }
  const auto all = locked_rule_counter_map();
  for (uint32_t id : ids)
    if (auto it = all.find(id); it != all.end()) out[std::to_string(id)] = counter_json(it->second);
  return out;
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
