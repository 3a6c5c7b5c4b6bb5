#include "plugins/lb/lb_plugin.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "adam/lb.h"
#include "adam/xdp_chain.h"
#include "core/bpf_pins.h"
#include "core/config_schema.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "core/undo.h"
#include "core/xdp_chain.h"
#include "plugins/lb/decap.h"
#include "plugins/lb/service_store.h"

namespace adam {
namespace {

namespace fs = std::filesystem;
using lb::BackendHealth;
using lb::IpAddress;
using lb::Service;
using nlohmann::json;

constexpr const char* kOwner = "lb";
// An unresolved next hop is asked again this often at first (the kernel's
// ARP or neighbour solicitation answers within milliseconds on a segment),
// then, after kFastRetries, every kRetrySlow.
constexpr auto kRetryFast = std::chrono::milliseconds(200);
constexpr auto kRetrySlow = std::chrono::seconds(1);
constexpr uint32_t kFastRetries = 25;
// Resolved next hops are looked up again this often while running, so a
// backend's new MAC or route reaches the kernel without waiting for a change.
constexpr auto kNextHopRefresh = std::chrono::seconds(10);

std::string service_url(int64_t id) { return "/api/v1/lb/services/" + std::to_string(id); }

std::vector<std::string> strings_of(const json& config, const char* field) {
  std::vector<std::string> out;
  if (auto it = config.find(field); it != config.end())
    for (const auto& v : *it) out.push_back(v.get<std::string>());
  return out;
}

// An interface's MAC and MTU, for the balancer's source MACs and its ICMP
// "fragmentation needed" (adamd's network namespace).
adam_lb_iface iface_of(const std::string& ifname) {
  adam_lb_iface iface{};
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("lb: socket: " + std::string(std::strerror(errno)));
  ifreq req{};
  std::strncpy(req.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  const bool ok = ioctl(fd, SIOCGIFHWADDR, &req) == 0;
  if (ok) std::memcpy(iface.mac, req.ifr_hwaddr.sa_data, sizeof iface.mac);
  const bool mtu = ok && ioctl(fd, SIOCGIFMTU, &req) == 0;
  const int err = errno;
  close(fd);
  if (!mtu)
    throw std::runtime_error("lb: cannot read the MAC and MTU of '" + ifname + "': " + std::strerror(err));
  iface.mtu = static_cast<uint32_t>(req.ifr_mtu);
  return iface;
}

std::string mac_text(const std::array<uint8_t, 6>& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                mac[5]);
  return text;
}

std::string action_name(uint32_t action) {
  switch (action) {
    case XDP_TX:
      return "tx";
    case XDP_REDIRECT:
      return "redirect";
    case XDP_PASS:
      return "pass";
    default:
      return "drop";
  }
}

// Why the program did not balance a packet, by the ADAM_LB_TOTAL_* it counted in.
std::string unbalanced_reason(uint32_t total) {
  switch (total) {
    case ADAM_LB_TOTAL_NOT_VIP:
      return "no service has this VIP, port and protocol: passed on untouched";
    case ADAM_LB_TOTAL_FRAGMENT:
      return "a fragment to a VIP: dropped";
    case ADAM_LB_TOTAL_TOO_BIG:
      return "encapsulated it would exceed the egress MTU: answered with ICMP";
    case ADAM_LB_TOTAL_UNPARSED:
      return "headers the parser does not take: passed on";
    case ADAM_LB_TOTAL_ENCAP_FAILED:
      return "the outer header could not be added: dropped";
    default:
      return "not balanced";
  }
}

// The outer header of an encapsulated frame the program put out: {src, dst,
// proto}, null when the frame is not IPIP/IP6IP6.
json outer_of(const std::vector<uint8_t>& frame) {
  size_t at = 12;
  auto u16 = [&](size_t i) { return static_cast<uint16_t>(frame[i] << 8 | frame[i + 1]); };
  if (frame.size() < at + 2) return nullptr;
  uint16_t type = u16(at);
  while ((type == 0x8100 || type == 0x88a8) && frame.size() >= at + 6) {
    at += 4;
    type = u16(at);
  }
  at += 2;
  auto address = [&](size_t offset, uint8_t family) {
    IpAddress a;
    a.family = family;
    std::memcpy(a.bytes.data(), &frame[at + offset], family == 4 ? 4 : 16);
    return a.to_string();
  };
  if (type == 0x0800 && frame.size() >= at + 20 && (frame[at + 9] == 4 || frame[at + 9] == 41))
    return {{"src", address(12, 4)}, {"dst", address(16, 4)}, {"proto", frame[at + 9]}};
  if (type == 0x86dd && frame.size() >= at + 40 && (frame[at + 6] == 4 || frame[at + 6] == 41))
    return {{"src", address(8, 6)}, {"dst", address(24, 6)}, {"proto", frame[at + 6]}};
  return nullptr;
}

// A number of explain's body: JSON or the console form's text.
uint16_t port_of(const json& body, const char* field, bool required) {
  const auto it = body.find(field);
  if (it == body.end() || (it->is_string() && it->get<std::string>().empty())) {
    if (required) throw bad_request(field, std::string("missing field '") + field + "' (1..65535)");
    return 0;
  }
  int64_t n = -1;
  if (it->is_number_integer()) n = it->get<int64_t>();
  if (it->is_string()) {
    const std::string text = it->get<std::string>();
    if (!text.empty() && text.size() <= 5 && text.find_first_not_of("0123456789") == std::string::npos)
      n = std::stoll(text);
  }
  if (n < (required ? 1 : 0) || n > 65535)
    throw bad_request(field, std::string("'") + field + "' must be a port 1..65535, got " + it->dump());
  return static_cast<uint16_t>(n);
}

bool flag_of(const json& body, const char* field) {
  const auto it = body.find(field);
  if (it == body.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string() && (*it == "on" || *it == "true")) return true;
  if (it->is_string() && (*it == "" || *it == "false")) return false;
  throw bad_request(field, std::string("'") + field + "' must be true or false, got " + it->dump());
}

std::string text_of(const json& body, const char* field, const std::string& fallback) {
  const auto it = body.find(field);
  if (it == body.end()) return fallback;
  if (!it->is_string()) throw bad_request(field, std::string("'") + field + "' must be a string");
  return it->get<std::string>();
}

}  // namespace

LbPlugin::LbPlugin(PluginContext& ctx) : ctx_(ctx) {
  if (ctx_.db) {
    store_ = std::make_unique<lb::ServiceStore>(
        *ctx_.db, [this](const std::vector<Service>& services) { apply(services); });
    apply(store_->list());  // not running: what the resources show while stopped
  }
  reapplier_ = std::thread([this] { reapply_loop(); });
}

LbPlugin::~LbPlugin() {
  {
    std::lock_guard wake(wake_mu_);
    quit_ = true;
  }
  wake_cv_.notify_all();
  reapplier_.join();
  std::lock_guard lock(mu_);
  checker_.reset();   // joins its thread, which reaches wake_mu_: before that goes
  datapath_.reset();  // the program stays in the chain's slot, its maps pinned
  decap_.reset();     // its links stay pinned
}

std::string LbPlugin::description() const {
  return "L4 load balancer: XDP in adamd's chain after the firewall spreads the packets of each service's "
         "VIP over its backends with weighted Maglev hashing and a connection table, by direct server "
         "return or IPIP; health checks with a depool threshold; on a backend, decapsulation at tc ingress.";
}

std::string LbPlugin::unsupported_reason(const KernelFeatures& features) const {
  // Either half runs on its own: the balancer needs XDP, the decapsulator
  // (decap: true) tcx links. The config says which one is asked for:
  // validate() refuses a config whose half is missing.
  if (features.has("xdp") || features.has("tcx")) return "";
  return "the balancer needs xdp (" + features.detail("xdp") + ") and the decapsulator tcx (" +
         features.detail("tcx") + ")";
}

json LbPlugin::config_schema() const {
  ConfigSchema schema;
  schema.field({.name = "interfaces",
                .type = "array",
                .items = "string",
                .help = "where the balancer runs (XDP, through adamd's chain, after the firewall)",
                .default_value = json::array(),
                .min_items = 0,
                .max_items = 16});
  schema.field({.name = "xdp_mode",
                .type = "string",
                .help = "how adamd's XDP chain is attached to those interfaces: auto (generic on veth, else "
                        "native where the driver has it), native, generic",
                .default_value = "auto",
                .choices = {"auto", "native", "generic"}});
  schema.field({.name = "conntrack_size",
                .type = "integer",
                .help = "entries of the connection table (an LRU: the least recently seen flow goes first)",
                .default_value = ADAM_LB_DEFAULT_FLOWS,
                .minimum = 1024,
                .maximum = 16'777'216});
  schema.field({.name = "decap",
                .type = "boolean",
                .help = "decapsulate IPIP/IP6IP6 addressed to this machine (a backend of an ipip service)",
                .default_value = false});
  schema.field({.name = "decap_interfaces",
                .type = "array",
                .items = "string",
                .help = "where the decapsulator runs (tc ingress); required with decap",
                .default_value = json::array(),
                .min_items = 0,
                .max_items = 16});
  return schema.to_json();
}

std::vector<std::string> LbPlugin::interfaces(const json& config) const {
  std::vector<std::string> out = strings_of(config, "interfaces");
  for (std::string& name : strings_of(config, "decap_interfaces")) out.push_back(std::move(name));
  return out;
}

void LbPlugin::validate(const json& config) const {
  Plugin::validate(config);
  for (const char* list : {"interfaces", "decap_interfaces"}) {
    std::set<std::string> seen;
    const auto names = strings_of(config, list);
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string field = std::string(list) + "[" + std::to_string(i) + "]";
      if (!seen.insert(names[i]).second)
        throw bad_request(field, "interface '" + names[i] + "' is listed twice");
      XdpChain::ifindex_of(names[i], field);
    }
  }
  const bool decap = config.value("decap", false);
  const bool balance = !strings_of(config, "interfaces").empty();
  if (!balance && !decap)
    throw bad_request("interfaces", "the lb plugin needs 'interfaces' to balance on, or 'decap': true");
  if (decap && strings_of(config, "decap_interfaces").empty())
    throw bad_request("decap_interfaces", "'decap' needs 'decap_interfaces': where to decapsulate");
  if (!decap && !strings_of(config, "decap_interfaces").empty())
    throw bad_request("decap_interfaces", "'decap_interfaces' are used only with 'decap': true");
  if (balance && !ctx_.features.has("xdp"))
    throw bad_request("interfaces",
                      "the balancer needs XDP, which this kernel lacks: " + ctx_.features.detail("xdp"));
  if (decap && !ctx_.features.has("tcx"))
    throw bad_request(
        "decap", "the decapsulator needs tcx links, which this kernel lacks: " + ctx_.features.detail("tcx"));
}

std::string LbPlugin::pin_dir() const { return ctx_.pin_dir + "/lb"; }

void LbPlugin::start(const json& config) {
  // The stored services before mu_: the store's lock comes first (see the header).
  const std::vector<Service> services = store_ ? store_->list() : std::vector<Service>{};
  {
    std::lock_guard lock(mu_);
    if (running_) throw conflict("the lb plugin is already running");
    const std::vector<std::string> interfaces = strings_of(config, "interfaces");
    const std::vector<std::string> decap_interfaces = strings_of(config, "decap_interfaces");
    const XdpMode mode = xdp_mode_from_string(config.value("xdp_mode", "auto"), "xdp_mode");
    const std::string dir = pin_dir();

    std::unique_ptr<lb::Datapath> datapath;
    std::unique_ptr<lb::Decap> decap;
    UndoStack undo;  // after the objects its steps use
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      fs::create_directories(dir, ec);
      if (ec) throw std::runtime_error("lb: cannot create " + dir + ": " + ec.message());
      undo.push("the pin dir " + dir, [dir] {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
      });
    }
    if (interfaces.empty()) {
      // A decapsulating backend only: no balancer of an earlier config stays.
      ctx_.xdp.uninstall(ADAM_XDP_SLOT_LB);
      ctx_.xdp.set_interfaces(kOwner, {});
      lb::remove_datapath_pins(dir);
    } else {
      datapath = std::make_unique<lb::Datapath>(ctx_.xdp.chain_fd(), dir,
                                                config.value("conntrack_size", ADAM_LB_DEFAULT_FLOWS));
      undo.push("the lb's new map pins", [pins = datapath->created_pins()] { remove_pins(pins); });
      std::map<uint32_t, adam_lb_iface> ifaces;
      for (size_t i = 0; i < interfaces.size(); ++i)
        ifaces[XdpChain::ifindex_of(interfaces[i], "interfaces[" + std::to_string(i) + "]")] =
            iface_of(interfaces[i]);
      datapath->set_interfaces(ifaces);
      ctx_.xdp.set_interfaces(kOwner, interfaces, mode);
      undo.push("the lb's XDP interfaces", [this] { ctx_.xdp.set_interfaces(kOwner, {}); });
    }
    if (config.value("decap", false)) {
      decap = std::make_unique<lb::Decap>(dir);  // re-adopts the links of an earlier adamd
      decap->set_interfaces({decap_interfaces.begin(), decap_interfaces.end()}, "decap_interfaces");
    } else {
      lb::remove_decap_pins(dir);
    }
    datapath_ = std::move(datapath);
    decap_ = std::move(decap);
    undo.push("the lb's objects", [this] {
      checker_.reset();
      datapath_.reset();
      decap_.reset();
    });
    if (!datapath_) checker_.reset();
    if (datapath_) {
      // A reconfigure keeps the checker: its verdicts (a backend down) stay.
      if (!checker_)
        checker_ = std::make_unique<lb::HealthChecker>(
            [this](const lb::HealthTarget& target, const BackendHealth& now) {
              health_changed(target, now);
            });
      try {
        // The services before the program goes in: a fresh start forwards at
        // once, a re-adopted one keeps every slot its flows point to.
        apply_locked(services);
      } catch (const std::exception& e) {
        spdlog::error("lb: the stored services cannot be applied: {}", e.what());
      }
      // The slot's program until now (an earlier adamd's, or none), held so
      // that the undo can put it back.
      auto previous =
          std::make_shared<UniqueFd>(bpf_prog_get_fd_by_id(ctx_.xdp.slot_prog_id(ADAM_XDP_SLOT_LB)));
      ctx_.xdp.install(ADAM_XDP_SLOT_LB, datapath_->prog_fd());
      undo.push("the lb's slot of the XDP chain", [this, previous] {
        if (*previous)
          ctx_.xdp.install(ADAM_XDP_SLOT_LB, previous->get());
        else
          ctx_.xdp.uninstall(ADAM_XDP_SLOT_LB);
      });
    }
    undo.dismiss();
    config_ = config;
    interfaces_ = interfaces;
    running_ = true;
  }
  // A change made between the list above and mu_ went to apply() while
  // stopped: this one sees it.
  if (store_) try {
      store_->reapply();
    } catch (const std::exception& e) {
      spdlog::error("lb: the stored services cannot be applied: {}", e.what());
    }
  spdlog::info("lb: running ({})", summary());
}

void LbPlugin::reconfigure(const json& config) {
  {
    std::lock_guard lock(mu_);
    datapath_.reset();  // the program stays in the slot and forwards until the new one replaces it
    decap_.reset();
    running_ = false;
  }
  start(config);
}

void LbPlugin::stop() {
  std::lock_guard lock(mu_);
  // The slot and the pins are the lb's own: emptied even when this object
  // never ran (an earlier adamd's may be there).
  ctx_.xdp.uninstall(ADAM_XDP_SLOT_LB);
  ctx_.xdp.set_interfaces(kOwner, {});
  checker_.reset();
  datapath_.reset();
  decap_.reset();
  lb::remove_datapath_pins(pin_dir());
  lb::remove_decap_pins(pin_dir());
  std::error_code ec;
  fs::remove_all(pin_dir(), ec);
  running_ = false;
  interfaces_.clear();
  config_ = nullptr;
  limited_.clear();
  spdlog::info("lb: stopped");
}

void LbPlugin::apply(const std::vector<Service>& services) {
  Applied applied;
  {
    std::lock_guard lock(mu_);
    applied = apply_locked(services);
  }
  std::lock_guard wake(wake_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!applied.live) {
    retry_.reset();
    retries_ = 0;
  } else if (!applied.unresolved) {
    retries_ = 0;
    retry_ = now + kNextHopRefresh;
    wake_cv_.notify_all();
  } else {
    const auto next = now + (retries_ < kFastRetries ? kRetryFast : kRetrySlow);
    if (!retry_ || *retry_ > next) retry_ = next;
    wake_cv_.notify_all();
  }
}

LbPlugin::Applied LbPlugin::apply_locked(const std::vector<Service>& services) {
  const bool live = datapath_ != nullptr;
  bool unresolved = false;
  std::map<int64_t, ServiceView> views;
  std::vector<lb::KernelService> kernel;
  std::vector<lb::HealthTarget> targets;
  for (const Service& s : services) {
    ServiceView& view = views[s.id];
    std::vector<BackendHealth> weighted;
    std::vector<IpAddress> weighted_addresses;
    for (const lb::Backend& b : s.backends) {
      BackendView& bv = view.backends[b.address];
      if (live) {
        bv.next_hop = lb::resolve_next_hop(b.address, s.mode == lb::Mode::l2dsr);
        unresolved |= !bv.next_hop.resolved;
        if (s.health) {
          bv.health = checker_->state(s.id, b.address).value_or(BackendHealth{});
          targets.push_back({s.id, b.address, *s.health});
        }
      }
      if (b.weight > 0) {
        weighted.push_back(bv.health.value_or(BackendHealth{}));
        weighted_addresses.push_back(b.address);
      }
    }
    const lb::DepoolDecision decision = lb::depool(weighted, s.depool_threshold);
    for (size_t i = 0; i < weighted_addresses.size(); ++i)
      view.backends[weighted_addresses[i]].depooled = decision.out[i];
    view.down = decision.down;
    view.limited = decision.limited;
    lb::KernelService ks{.id = s.id,
                         .vip = s.vip,
                         .port = s.port,
                         .proto = s.proto,
                         .mode = s.mode,
                         .table_size = s.table_size,
                         .backends = {}};
    for (const lb::Backend& b : s.backends) {
      BackendView& bv = view.backends[b.address];
      bv.in_table = live && b.weight > 0 && bv.next_hop.resolved && !bv.depooled;
      // Down for the kernel (its flows re-hashed): depooled, or with no MAC
      // to send to. A drained one keeps its flows.
      ks.backends.push_back({.address = b.address,
                             .table_weight = bv.in_table ? b.weight : 0,
                             .down = bv.depooled || !bv.next_hop.resolved,
                             .next_hop = bv.next_hop});
    }
    kernel.push_back(std::move(ks));
  }
  if (live) {
    try {
      datapath_->apply(kernel);
    } catch (const std::invalid_argument& e) {
      throw ApiError(422, "unprocessable", std::string("the balancer's kernel tables refuse it: ") + e.what(),
                     "backends");
    }
    checker_->set_targets(std::move(targets));
  }
  std::set<int64_t> limited;
  for (const Service& s : services) {
    const ServiceView& view = views[s.id];
    if (!view.limited) continue;
    limited.insert(s.id);
    if (limited_.count(s.id)) continue;
    uint32_t in_table = 0;
    for (const auto& [address, bv] : view.backends) in_table += bv.in_table;
    publish("lb.depool_limited", {{"service_id", s.id},
                                  {"service", s.name},
                                  {"down", view.down},
                                  {"in_table", in_table},
                                  {"threshold", s.depool_threshold}});
  }
  limited_ = std::move(limited);
  views_ = std::move(views);
  return {live, live && unresolved};
}

void LbPlugin::health_changed(const lb::HealthTarget& target, const BackendHealth& now) {
  std::lock_guard wake(wake_mu_);
  verdicts_.push_back({target, now});
  wake_cv_.notify_all();
}

void LbPlugin::reapply_loop() {
  std::map<std::pair<int64_t, IpAddress>, lb::Health> published;  // the last verdict of each backend
  std::unique_lock wake(wake_mu_);
  while (!quit_) {
    const bool due = retry_ && std::chrono::steady_clock::now() >= *retry_;
    if (verdicts_.empty() && !due) {
      if (retry_)
        wake_cv_.wait_until(wake, *retry_);
      else
        wake_cv_.wait(wake);
      continue;
    }
    if (due) {
      ++retries_;
      retry_.reset();
    }
    std::vector<Verdict> verdicts = std::move(verdicts_);
    verdicts_.clear();
    wake.unlock();  // the re-apply takes the store's lock, then mu_
    try {
      if (store_) store_->reapply();
    } catch (const std::exception& e) {
      spdlog::warn("lb: re-applying the services failed: {}", e.what());
    }
    for (const Verdict& v : verdicts) {
      // A first verdict of up is no change (unknown counts as up): events
      // say when a backend leaves the up state or comes back to it.
      lb::Health& was = published[{v.target.service_id, v.target.address}];
      const lb::Health before = was;
      was = v.now.health;
      if (v.now.health == lb::Health::unknown ||
          (v.now.health == lb::Health::up && before != lb::Health::down))
        continue;
      std::string name;
      try {
        name = store_ ? store_->get(v.target.service_id).name : "";
      } catch (const ApiError&) {
        continue;  // removed meanwhile
      }
      const bool up = v.now.health == lb::Health::up;
      publish(
          up ? "lb.backend_up" : "lb.backend_down",
          {{"service_id", v.target.service_id},
           {"service", name},
           {"backend", v.target.address.to_string()},
           {"reason", up ? "passed " + std::to_string(v.now.passes) + " checks in a row" : v.now.last_error},
           {"checks", v.now.checks}});
    }
    wake.lock();
  }
}

void LbPlugin::publish(const std::string& kind, const json& data) const {
  if (ctx_.events)
    ctx_.events->publish(kOwner, kind, data.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::map<int64_t, lb::ServiceCounters> LbPlugin::counters_by_id() const {
  std::map<int64_t, lb::ServiceCounters> out;
  if (datapath_)
    for (auto& c : datapath_->counters()) out[c.id] = std::move(c);
  return out;
}

json LbPlugin::resources(const std::vector<Service>& services) const {
  std::lock_guard lock(mu_);
  const auto counters = counters_by_id();
  json out = json::array();
  for (const Service& s : services) out.push_back(resource(s, counters));
  return out;
}

json LbPlugin::resource(const Service& service) const { return resources({service})[0]; }

json LbPlugin::resource(const Service& s, const std::map<int64_t, lb::ServiceCounters>& counters) const {
  const bool live = datapath_ != nullptr;
  json j = lb::service_to_json(s);
  j["id"] = s.id;
  const std::string self = service_url(s.id);
  const auto view = views_.find(s.id);
  const auto counted = counters.find(s.id);
  json warnings = json::array();
  json backends = json::array();
  size_t up = 0;
  for (const lb::Backend& b : s.backends) {
    const std::string address = b.address.to_string();
    const BackendView* bv = nullptr;
    if (view != views_.end())
      if (auto it = view->second.backends.find(b.address); it != view->second.backends.end())
        bv = &it->second;
    const lb::BackendCounters* bc = nullptr;
    if (counted != counters.end())
      for (const auto& c : counted->second.backends)
        if (c.address == b.address) bc = &c;
    std::string state = "up";
    if (b.weight == 0)
      state = "draining";
    else if (live && bv && !bv->next_hop.resolved)
      state = "unresolved";
    else if (live && bv && bv->health && bv->health->health == lb::Health::down)
      state = "down";
    up += state == "up";
    json bj = {
        {"address", address},
        {"weight", b.weight},
        {"state", state},
        {"in_table", live && bv && bv->in_table},
        {"table_entries", bc ? bc->table_entries : 0},
        {"health", nullptr},
        {"next_hop", nullptr},
        {"stats", nullptr},
        {"links",
         {{"self", self + "/backends/" + address}, {"drain", self + "/backends/" + address + "/drain"}}}};
    if (live && bv) {
      if (bv->health)
        bj["health"] = {{"state", lb::to_string(bv->health->health)},
                        {"since", bv->health->since_ns},
                        {"last_error", bv->health->last_error},
                        {"checks", bv->health->checks}};
      const lb::NextHop& nh = bv->next_hop;
      bj["next_hop"] = {
          {"resolved", nh.resolved}, {"interface", nh.interface}, {"mac", mac_text(nh.dst_mac)}};
      if (!nh.resolved) {
        bj["next_hop"]["error"] = nh.error;
        warnings.push_back("backend " + address + " is out of the table: its next hop is unresolved (" +
                           nh.error + ")");
      }
      bj["stats"] = {{"packets", bc ? bc->counters.packets : 0},
                     {"bytes", bc ? bc->counters.bytes : 0},
                     {"new_flows", bc ? bc->counters.new_flows : 0}};
    }
    backends.push_back(std::move(bj));
  }
  j["backends"] = std::move(backends);
  const bool limited = view != views_.end() && view->second.limited;
  j["depool"] = {{"down", view != views_.end() ? view->second.down : 0}, {"limited", limited}};
  if (limited)
    warnings.push_back("the depool threshold keeps backends that fail their health checks in the table");
  if (up == 0) warnings.push_back("no backend is up: none is left to take new flows");
  if (s.proto == IPPROTO_UDP && s.health && s.health->port == s.port)
    warnings.push_back("health checks connect over TCP to port " + std::to_string(s.port) +
                       ", this udp service's own port: its backends must listen on TCP there too (or set "
                       "health.port)");
  j["stats"] = nullptr;
  if (live) {
    const adam_lb_service_stats c =
        counted != counters.end() ? counted->second.counters : adam_lb_service_stats{};
    j["stats"] = {{"packets", c.packets},       {"bytes", c.bytes},
                  {"new_flows", c.new_flows},   {"lru_hits", c.lru_hits},
                  {"lru_misses", c.lru_misses}, {"non_syn_rehash", c.non_syn_rehash},
                  {"no_backend", c.no_backend}};
  }
  j["warnings"] = std::move(warnings);
  j["links"] = {{"self", self},
                {"backends", self + "/backends"},
                {"explain", "/api/v1/lb/explain"},
                {"rates", self + "/rates"}};
  return j;
}

LbPlugin::Reading LbPlugin::backend_packets(int64_t id) const {
  std::lock_guard lock(mu_);
  Reading reading{{}, std::chrono::steady_clock::now()};
  const auto by_id = counters_by_id();  // kept: a range-for over a member of the temporary would dangle
  const auto it = by_id.find(id);
  if (it != by_id.end())
    for (const auto& c : it->second.backends) reading.packets[c.address.to_string()] = c.counters.packets;
  return reading;
}

json LbPlugin::explain(const json& body) const {
  if (!body.is_object())
    throw bad_request("body", "explain takes a JSON object {src, dst, proto, src_port, dst_port}");
  lb::Flow flow;
  flow.src = lb::parse_address(text_of(body, "src", ""), "src");
  flow.dst = lb::parse_address(text_of(body, "dst", ""), "dst");
  const std::string proto = text_of(body, "proto", "tcp");
  if (proto != "tcp" && proto != "udp")
    throw bad_request("proto", "'proto' must be tcp or udp, got \"" + proto + "\"");
  flow.proto = proto == "tcp" ? 6 : 17;
  flow.src_port = port_of(body, "src_port", true);
  flow.dst_port = port_of(body, "dst_port", true);
  flow.syn = flag_of(body, "syn");
  const std::string interface = text_of(body, "interface", "");
  lb::Explanation e;
  {
    std::lock_guard lock(mu_);
    if (!datapath_ || interfaces_.empty())
      throw unavailable("the lb plugin is not running with 'interfaces': no balancer to ask");
    const std::string ifname = interface.empty() ? interfaces_.front() : interface;
    const uint32_t ifindex = XdpChain::ifindex_of(ifname, "interface");
    try {
      e = datapath_->explain(flow, ifindex);
    } catch (const std::invalid_argument& bad) {
      throw bad_request("dst", bad.what());
    }
  }
  json service = nullptr;
  std::string name;
  if (e.service_id != 0) {
    service = {{"id", e.service_id}, {"name", nullptr}};
    try {
      name = store_ ? store_->get(e.service_id).name : "";
      service["name"] = name;
    } catch (const ApiError&) {
      // Removed since the kernel decided: its id is all there is.
    }
  }
  const char* sources[] = {"none", "flow", "hash"};
  const std::string source = e.source <= ADAM_LB_SOURCE_HASH ? sources[e.source] : "none";
  std::string reason;
  if (e.source == ADAM_LB_SOURCE_FLOW)
    reason = "the connection table holds this flow";
  else if (e.source == ADAM_LB_SOURCE_HASH)
    reason = "hashed by the Maglev table of service '" + name + "'";
  else if (e.service_id != 0 && e.xdp_action == XDP_DROP && e.total == 0)
    reason = "service '" + name + "' has no backend in its table: dropped";
  else
    reason = unbalanced_reason(e.total);
  json frame = nullptr;
  if (e.frame.size() >= 12) {
    std::array<uint8_t, 6> dst{}, src{};
    std::copy_n(e.frame.begin(), 6, dst.begin());
    std::copy_n(e.frame.begin() + 6, 6, src.begin());
    frame = {{"dst_mac", mac_text(dst)},
             {"src_mac", mac_text(src)},
             {"outer", e.backend ? outer_of(e.frame) : nullptr}};
  }
  json j = {{"service", service}, {"backend", e.backend ? json(e.backend->to_string()) : json(nullptr)},
            {"source", source},   {"action", action_name(e.xdp_action)},
            {"reason", reason},   {"frame", frame}};
  if (e.service_id != 0) j["links"] = {{"service", service_url(e.service_id)}};
  return j;
}

json LbPlugin::stats() const {
  std::lock_guard lock(mu_);
  size_t backends = 0;
  for (const auto& [id, view] : views_) backends += view.backends.size();
  json j = {{"running", running_}, {"services", views_.size()}, {"backends", backends},
            {"flows", nullptr},    {"totals", nullptr},         {"decap", nullptr}};
  if (datapath_) {
    j["flows"] = datapath_->flows();
    const auto t = datapath_->totals();
    j["totals"] = {
        {"not_vip", t[ADAM_LB_TOTAL_NOT_VIP]},          {"fragment", t[ADAM_LB_TOTAL_FRAGMENT]},
        {"ip_options", t[ADAM_LB_TOTAL_IP_OPTIONS]},    {"too_big", t[ADAM_LB_TOTAL_TOO_BIG]},
        {"unparsed", t[ADAM_LB_TOTAL_UNPARSED]},        {"stale_flow", t[ADAM_LB_TOTAL_STALE_FLOW]},
        {"encap_failed", t[ADAM_LB_TOTAL_ENCAP_FAILED]}};
  }
  if (decap_) {
    const auto t = decap_->totals();
    j["decap"] = {{"done", t[ADAM_LB_DECAP_DONE]}, {"malformed", t[ADAM_LB_DECAP_MALFORMED]}};
  }
  return j;
}

std::string LbPlugin::summary() const {
  std::lock_guard lock(mu_);
  std::string line;
  for (const XdpInterface& i : ctx_.xdp.interfaces())
    if (i.owners.count(kOwner)) line += (line.empty() ? "" : " ") + i.ifname + "@xdp/" + to_string(i.mode);
  size_t backends = 0;
  for (const auto& [id, view] : views_) backends += view.backends.size();
  if (datapath_ || !decap_)
    line += (line.empty() ? "" : "; ") + std::to_string(views_.size()) +
            (views_.size() == 1 ? " service, " : " services, ") + std::to_string(backends) +
            (backends == 1 ? " backend" : " backends");
  if (decap_) {
    std::string names;
    for (const std::string& ifname : decap_->interfaces()) names += (names.empty() ? "" : ",") + ifname;
    line += (line.empty() ? "" : "; ") + std::string("decap on ") + names;
  }
  return line;
}

void LbPlugin::metrics(MetricsWriter& w) const {
  const std::vector<Service> services = store_ ? store_->list() : std::vector<Service>{};  // before mu_
  std::lock_guard lock(mu_);
  if (datapath_) {
    const auto counters = counters_by_id();
    const char* per_service[][3] = {
        {"adam_lb_packets_total", "counter", "Packets balanced, by service."},
        {"adam_lb_bytes_total", "counter", "Bytes balanced, by service."},
        {"adam_lb_new_flows_total", "counter", "Flows placed by the Maglev table, by service."}};
    for (const auto& f : per_service) w.family(f[0], f[1], f[2]);
    w.family("adam_lb_lru_total", "counter",
             "Connection table lookups of balanced packets, by service and result.");
    w.family("adam_lb_backend_packets_total", "counter", "Packets sent to a backend.");
    w.family("adam_lb_backend_up", "gauge",
             "1 when the backend is up (weighted, resolved, passing its checks).");
    for (const Service& s : services) {
      const auto it = counters.find(s.id);
      const adam_lb_service_stats c = it != counters.end() ? it->second.counters : adam_lb_service_stats{};
      const Labels service = {{"service", s.name}};
      w.sample("adam_lb_packets_total", service, static_cast<double>(c.packets));
      w.sample("adam_lb_bytes_total", service, static_cast<double>(c.bytes));
      w.sample("adam_lb_new_flows_total", service, static_cast<double>(c.new_flows));
      w.sample("adam_lb_lru_total", {{"service", s.name}, {"result", "hit"}},
               static_cast<double>(c.lru_hits));
      w.sample("adam_lb_lru_total", {{"service", s.name}, {"result", "miss"}},
               static_cast<double>(c.lru_misses));
      const auto view = views_.find(s.id);
      for (const lb::Backend& b : s.backends) {
        uint64_t packets = 0;
        if (it != counters.end())
          for (const auto& bc : it->second.backends)
            if (bc.address == b.address) packets = bc.counters.packets;
        const Labels labels = {{"service", s.name}, {"backend", b.address.to_string()}};
        w.sample("adam_lb_backend_packets_total", labels, static_cast<double>(packets));
        bool up = false;
        if (view != views_.end())
          if (auto bv = view->second.backends.find(b.address); bv != view->second.backends.end())
            up = bv->second.in_table && !(bv->second.health && bv->second.health->health == lb::Health::down);
        w.sample("adam_lb_backend_up", labels, up ? 1 : 0);
      }
    }
    const auto t = datapath_->totals();
    w.family("adam_lb_passed_total", "counter", "Packets the balancer did not balance, by reason.");
    const std::pair<const char*, int> reasons[] = {
        {"not_vip", ADAM_LB_TOTAL_NOT_VIP},          {"fragment", ADAM_LB_TOTAL_FRAGMENT},
        {"ip_options", ADAM_LB_TOTAL_IP_OPTIONS},    {"too_big", ADAM_LB_TOTAL_TOO_BIG},
        {"unparsed", ADAM_LB_TOTAL_UNPARSED},        {"stale_flow", ADAM_LB_TOTAL_STALE_FLOW},
        {"encap_failed", ADAM_LB_TOTAL_ENCAP_FAILED}};
    for (const auto& [reason, slot] : reasons)
      w.sample("adam_lb_passed_total", {{"reason", reason}}, static_cast<double>(t[slot]));
  }
  if (decap_) {
    const auto t = decap_->totals();
    w.family("adam_lb_decap_total", "counter",
             "IPIP/IP6IP6 packets to this machine at tc ingress, by result.");
    w.sample("adam_lb_decap_total", {{"result", "done"}}, static_cast<double>(t[ADAM_LB_DECAP_DONE]));
    w.sample("adam_lb_decap_total", {{"result", "malformed"}},
             static_cast<double>(t[ADAM_LB_DECAP_MALFORMED]));
  }
}

json LbPlugin::counters() const {
  std::lock_guard lock(mu_);
  uint64_t packets = 0, flows = 0;
  for (const auto& [id, c] : counters_by_id()) {
    packets += c.counters.packets;
    flows += c.counters.new_flows;
  }
  return {{"balanced packets", packets}, {"new flows", flows}};
}

json LbPlugin::event_links(const std::string& kind, const json& data) const {
  const auto id = data.find("service_id");
  if (kind.rfind("lb.", 0) != 0 || id == data.end() || !id->is_number_integer()) return json::object();
  return {{"service", service_url(id->get<int64_t>())}};
}

}  // namespace adam
