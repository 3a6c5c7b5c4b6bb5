#include "plugins/lsm/lsm_plugin.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/config_schema.h"
#include "core/errors.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "core/undo.h"
#include "plugins/lsm/policy_store.h"
#include "plugins/monitor/monitor_routes.h"
#include "plugins/monitor/proc_scan.h"

namespace adam {

namespace {

using lsm::Kind;
using lsm::Mechanism;
using lsm::Policy;
using nlohmann::json;

// A mechanism as one kind uses it: the kernel feature it needs (probed at
// adamd's start, /api/v1/node) and the hooks it enforces the kind with.
struct Option {
  Mechanism mechanism;
  const char* feature;
  const char* hooks;
};
// Each kind's mechanisms, best first (docs/lsm.md "Mechanisms").
const std::vector<Option>& options_of(Kind kind) {
  static const std::array<std::vector<Option>, ADAM_LSM_KINDS> options = {{
      {{Mechanism::bpf_lsm, "bpf_lsm", "lsm/bprm_check_security"},
       {Mechanism::fanotify, "fanotify", "FAN_OPEN_EXEC_PERM"},
       {Mechanism::signal, "bpf_send_signal", "bpf_send_signal(SIGKILL) from sched_process_exec"}},
      {{Mechanism::bpf_lsm, "bpf_lsm", "lsm/file_open"}, {Mechanism::fanotify, "fanotify", "FAN_OPEN_PERM"}},
      {{Mechanism::bpf_lsm, "bpf_lsm", "lsm/socket_connect, lsm/socket_sendmsg"},
       {Mechanism::cgroup, "cgroup_sock_addr", "cgroup/connect4, connect6, sendmsg4, sendmsg6 on the root"}},
      {{Mechanism::bpf_lsm, "bpf_lsm", "lsm/socket_bind"},
       {Mechanism::cgroup, "cgroup_sock_addr", "cgroup/bind4, bind6 on the root"}},
  }};
  return options[static_cast<size_t>(kind)];
}

constexpr uint32_t kDefaultAnswerMs = 1000;
constexpr uint32_t kDefaultEventRate = 1000;
constexpr uint32_t kDefaultRingBufferKb = 1024;

bool kernel_side(Mechanism m) { return m != Mechanism::fanotify; }

std::vector<std::string> all_mechanisms() { return {"bpf_lsm", "cgroup", "fanotify", "signal"}; }

bool allowed(const json& config, Mechanism m) {
  const json list =
      config.is_object() ? config.value("mechanisms", json(all_mechanisms())) : json(all_mechanisms());
  return std::find(list.begin(), list.end(), lsm::name_of(m)) != list.end();
}

bool by_priority(const Policy& a, const Policy& b) {
  return a.priority != b.priority ? a.priority < b.priority : a.id < b.id;
}

std::string policy_url(int64_t id) { return "/api/v1/lsm/policies/" + std::to_string(id); }

}  // namespace

LsmPlugin::LsmPlugin(PluginContext& ctx) : ctx_(ctx), clock_(mon::BootClock::read()) {
  if (ctx_.db)
    store_ = std::make_unique<lsm::PolicyStore>(
        *ctx_.db, [this](const std::vector<Policy>& policies) { apply(policies); });
  // What the stored policies are here (shown while stopped, too).
  if (store_) apply(store_->list());
}

LsmPlugin::~LsmPlugin() {
  std::lock_guard lock(mu_);
  fanotify_.reset();
  kernel_.reset();  // its pins keep enforcing
}

std::string LsmPlugin::description() const {
  return "Enforcement: exec, file, connect and bind policies denied (or audited) before they happen, by BPF "
         "LSM "
         "where the kernel allows it, else by cgroup hooks (network), fanotify permission events (exec, "
         "files) "
         "or a kill right after exec; every policy says which mechanism enforces it here.";
}

std::string LsmPlugin::unsupported_reason(const KernelFeatures& features) const {
  std::string why;
  for (const char* feature : {"bpf_lsm", "cgroup_sock_addr", "fanotify", "bpf_send_signal"}) {
    if (features.has(feature)) return "";
    why += (why.empty() ? "" : "; ") + std::string(feature) + ": " + features.detail(feature);
  }
  return "no enforcement mechanism works here: " + why;
}

json LsmPlugin::config_schema() const {
  ConfigSchema schema;
  schema.field({.name = "mechanisms",
                .type = "array",
                .items = "string",
                .help =
                    "the mechanisms adamd may use (bpf_lsm, cgroup, fanotify, signal); each kind takes the "
                    "first available of its list",
                .default_value = all_mechanisms(),
                .min_items = 1,
                .max_items = 4});
  schema.field({.name = "fanotify_answer_ms",
                .type = "integer",
                .help = "how long a fanotify permission event may wait for adamd's answer before the "
                        "policy's fail (open or closed) answers it",
                .default_value = kDefaultAnswerMs,
                .minimum = 10,
                .maximum = 60000});
  schema.field({.name = "event_rate",
                .type = "integer",
                .help = "lsm events per second at most (the rest are counted as lost; hits count all)",
                .default_value = kDefaultEventRate,
                .minimum = 1,
                .maximum = 1'000'000});
  schema.field({.name = "ring_buffer_kb",
                .type = "integer",
                .help = "size of the kernel's ring buffer to adamd in KiB, a power of two",
                .default_value = kDefaultRingBufferKb,
                .minimum = 4,
                .maximum = 65536});
  return schema.to_json();
}

void LsmPlugin::validate(const json& config) const {
  Plugin::validate(config);
  if (auto list = config.find("mechanisms"); list != config.end())
    for (size_t i = 0; i < list->size(); ++i)
      if (!lsm::mechanism_named((*list)[i].get<std::string>()))
        throw bad_request("mechanisms[" + std::to_string(i) + "]",
                          "'mechanisms[" + std::to_string(i) +
                              "]' must be one of bpf_lsm, cgroup, fanotify, "
                              "signal, got " +
                              (*list)[i].dump());
  if (auto kb = config.find("ring_buffer_kb"); kb != config.end()) {
    const uint64_t n = kb->get<uint64_t>();
    if ((n & (n - 1)) != 0)
      throw bad_request("ring_buffer_kb", "'ring_buffer_kb' must be a power of two, got " + kb->dump());
  }
}

std::array<LsmPlugin::Choice, ADAM_LSM_KINDS> LsmPlugin::choose(const json& config) const {
  std::array<Choice, ADAM_LSM_KINDS> choices;
  for (Kind kind : lsm::kAllKinds) {
    Choice& c = choices[static_cast<size_t>(kind)];
    std::string names, why;
    for (const Option& o : options_of(kind)) {
      const std::string name(lsm::name_of(o.mechanism));
      names += (names.empty() ? "" : " or ") + name;
      if (!allowed(config, o.mechanism)) {
        why += "; " + name + ": left out by the config's mechanisms";
      } else if (!ctx_.features.has(o.feature)) {
        why += "; " + name + ": " + ctx_.features.detail(o.feature);
      } else {
        c = {o.mechanism, o.hooks};
        break;
      }
    }
    if (!c.mechanism)
      c.detail = std::string(lsm::name_of(kind)) + " policies need " + names + ": " + why.substr(2);
  }
  return choices;
}

std::array<LsmPlugin::Choice, ADAM_LSM_KINDS> LsmPlugin::mechanisms() const {
  std::lock_guard lock(mu_);
  return choose(config_);
}

Policy LsmPlugin::checked(Policy policy) const {
  lsm::resolve(policy, mon::cgroup2_mount());
  const Choice c = mechanisms()[static_cast<size_t>(policy.kind)];
  if (!c.mechanism) throw ApiError(422, "unenforceable", c.detail, "kind");
  return policy;
}

void LsmPlugin::apply(const std::vector<Policy>& policies) {
  const std::string mount = mon::cgroup2_mount();
  std::vector<Policy> enforced;
  std::map<int64_t, std::string> unresolved;
  for (Policy p : policies) {
    if (!p.enabled) continue;
    try {
      lsm::resolve(p, mount);
    } catch (const ApiError& e) {
      // Stored before what it names went away (a cgroup removed): the
      // others are enforced, this one says why not.
      unresolved[p.id] = e.what();
      continue;
    }
    enforced.push_back(std::move(p));
  }
  std::sort(enforced.begin(), enforced.end(), by_priority);
  std::lock_guard lock(mu_);
  if (running_) {
    const auto choices = choose(config_);
    auto share = [&](const std::vector<Policy>& all, bool kernel) {
      std::vector<Policy> out;
      for (const Policy& p : all) {
        const auto& m = choices[static_cast<size_t>(p.kind)].mechanism;
        if (m && kernel_side(*m) == kernel) out.push_back(p);
      }
      return out;
    };
    // fanotify's first: when the kernel then refuses its share, fanotify
    // goes back to what it had, and neither changed.
    if (fanotify_) fanotify_->apply(share(enforced, false));
    if (kernel_) try {
        kernel_->apply(share(enforced, true));
      } catch (...) {
        if (fanotify_) fanotify_->apply(share(applied_, false));
        throw;
      }
  }
  applied_ = std::move(enforced);
  unresolved_ = std::move(unresolved);
}

void LsmPlugin::start(const json& config) {
  std::unique_lock lock(mu_);
  if (running_) throw conflict("the lsm plugin is already running");
  const auto choices = choose(config);
  lsm::KernelSetup kernel{.pin_dir = ctx_.pin_dir + "/lsm",
                          .features = &ctx_.features,
                          .events = ctx_.events,
                          .clock = &clock_,
                          .event_rate = config.value("event_rate", kDefaultEventRate),
                          .ring_buffer_kb = config.value("ring_buffer_kb", kDefaultRingBufferKb)};
  lsm::FanotifySetup fanotify{.answer_ms = config.value("fanotify_answer_ms", kDefaultAnswerMs),
                              .events = ctx_.events,
                              .clock = &clock_};
  bool any_kernel = false, any_fanotify = false;
  for (size_t k = 0; k < ADAM_LSM_KINDS; ++k) {
    const auto& m = choices[k].mechanism;
    if (!m) continue;
    if (kernel_side(*m)) {
      kernel.mechanism[k] = *m;
      any_kernel = true;
    } else {
      fanotify.kinds[k] = true;
      any_fanotify = true;
    }
  }
  // Pins no kind of this config uses (an earlier adamd's or config's) would
  // go on enforcing policies nothing here updates.
  if (!any_kernel) lsm::remove_kernel_pins(kernel.pin_dir);
  UndoStack undo;
  if (any_kernel) {
    kernel_ = lsm::make_kernel_enforcer(kernel);
    undo.push("the lsm kernel programs", [this] { kernel_.reset(); });
  }
  if (any_fanotify) fanotify_ = lsm::make_fanotify_enforcer(fanotify);
  undo.dismiss();
  config_ = config;
  running_ = true;
  lock.unlock();
  // What is stored, through the same step as every change (which waits for
  // mu_ and so sees the back ends).
  try {
    if (store_) apply(store_->list());
  } catch (...) {
    std::lock_guard again(mu_);
    fanotify_.reset();
    kernel_.reset();
    running_ = false;
    throw;
  }
  spdlog::info("lsm: running ({})", summary());
}

void LsmPlugin::reconfigure(const json& config) {
  {
    std::lock_guard lock(mu_);
    fanotify_.reset();
    kernel_.reset();  // its pins keep enforcing until the new back end adopts them: no gap
    running_ = false;
  }
  start(config);
}

void LsmPlugin::stop() {
  std::lock_guard lock(mu_);
  fanotify_.reset();
  kernel_.reset();
  lsm::remove_kernel_pins(ctx_.pin_dir + "/lsm");
  running_ = false;
  spdlog::info("lsm: stopped");
}

std::map<int64_t, lsm::Hits> LsmPlugin::hits() const {
  std::map<int64_t, lsm::Hits> sum;
  for (const auto* backend : {kernel_.get(), fanotify_.get()}) {
    if (!backend) continue;
    for (const auto& [id, h] : backend->hits()) {
      sum[id].deny += h.deny;
      sum[id].audit += h.audit;
    }
  }
  return sum;
}

json LsmPlugin::resources(const std::vector<Policy>& policies) const {
  std::lock_guard lock(mu_);
  const auto choices = choose(config_);
  const auto all = hits();
  json out = json::array();
  for (const Policy& p : policies) out.push_back(resource(p, choices[static_cast<size_t>(p.kind)], all));
  return out;
}

json LsmPlugin::resource(const Policy& p) const { return resources({p})[0]; }

json LsmPlugin::resource(const Policy& p, const Choice& c, const std::map<int64_t, lsm::Hits>& all) const {
  json j = lsm::policy_to_json(p);
  j["id"] = p.id;
  j["mechanism"] = c.mechanism ? json(lsm::name_of(*c.mechanism)) : json(nullptr);
  j["mechanism_detail"] = c.detail;
  json warnings = json::array();
  auto applied =
      std::find_if(applied_.begin(), applied_.end(), [&](const Policy& a) { return a.id == p.id; });
  Policy resolved = applied != applied_.end() ? *applied : p;
  if (applied == applied_.end()) try {
      lsm::resolve(resolved, mon::cgroup2_mount());
    } catch (const ApiError& e) {
      warnings.push_back(std::string("not enforced: ") + e.what());
    }
  j["resolved"] = {{"path", resolved.resolved.path}, {"parent", resolved.resolved.parent}};
  const auto h = all.find(p.id);
  j["hits"] = {{"deny", h == all.end() ? 0 : h->second.deny},
               {"audit", h == all.end() ? 0 : h->second.audit}};
  if (!c.mechanism) warnings.push_back("not enforced: " + c.detail);
  if (c.mechanism == Mechanism::fanotify) warnings.push_back("fanotify: not enforced while adamd is down");
  if (c.mechanism == Mechanism::signal && p.action == lsm::Action::deny)
    warnings.push_back("signal: the exec happens and the process is killed right after it (lsm.kill)");
  if (p.fail_closed && c.mechanism != Mechanism::fanotify)
    warnings.push_back("fail: closed applies only where adamd answers (fanotify)");
  j["warnings"] = std::move(warnings);
  const std::string self = policy_url(p.id);
  j["links"] = {{"self", self},
                {"events", "/api/v1/events?plugin=lsm&data.policy_id=" + std::to_string(p.id)}};
  j["links"][p.enabled ? "disable" : "enable"] = self + (p.enabled ? "/disable" : "/enable");
  if (p.action == lsm::Action::audit) j["links"]["promote"] = self + "/promote";
  return j;
}

json LsmPlugin::stats() const {
  std::lock_guard lock(mu_);
  json mechanisms = json::object();
  const auto choices = choose(config_);
  for (Kind kind : lsm::kAllKinds) {
    const auto& m = choices[static_cast<size_t>(kind)].mechanism;
    mechanisms[lsm::name_of(kind)] = m ? json(lsm::name_of(*m)) : json(nullptr);
  }
  json j = {{"running", running_}, {"mechanisms", mechanisms}, {"policies", applied_.size()}};
  if (kernel_) j["kernel"] = kernel_->stats();
  if (fanotify_) j["fanotify"] = fanotify_->stats();
  if (!unresolved_.empty()) j["unresolved"] = unresolved_.size();
  return j;
}

std::string LsmPlugin::summary() const {
  std::lock_guard lock(mu_);
  std::string text;
  const auto choices = choose(config_);
  for (Kind kind : lsm::kAllKinds) {
    const auto& m = choices[static_cast<size_t>(kind)].mechanism;
    text += (text.empty() ? "" : ", ") + std::string(lsm::name_of(kind)) + ": " +
            (m ? std::string(lsm::name_of(*m)) : "none");
  }
  return text + "; " + std::to_string(applied_.size()) + (applied_.size() == 1 ? " policy" : " policies");
}

void LsmPlugin::metrics(MetricsWriter& w) const {
  std::lock_guard lock(mu_);
  w.family("adam_lsm_policies", "gauge", "enabled policies the lsm plugin enforces, by kind");
  for (Kind kind : lsm::kAllKinds)
    w.sample("adam_lsm_policies", {{"kind", std::string(lsm::name_of(kind))}},
             static_cast<double>(std::count_if(applied_.begin(), applied_.end(),
                                               [&](const Policy& p) { return p.kind == kind; })));
  w.family("adam_lsm_hits_total", "counter", "operations a policy matched, by policy id and action");
  for (const auto& [id, h] : hits()) {
    w.sample("adam_lsm_hits_total", {{"policy", std::to_string(id)}, {"action", "deny"}},
             static_cast<double>(h.deny));
    w.sample("adam_lsm_hits_total", {{"policy", std::to_string(id)}, {"action", "audit"}},
             static_cast<double>(h.audit));
  }
  for (const auto* backend : {kernel_.get(), fanotify_.get()})
    if (backend) backend->metrics(w);
}

json LsmPlugin::counters() const {
  std::lock_guard lock(mu_);
  uint64_t denied = 0;
  for (const auto& [id, h] : hits()) denied += h.deny;
  return {{"denied", denied}};
}

json LsmPlugin::event_links(const std::string&, const json& data) const {
  json links = json::object();
  if (auto exec_id = data.find("exec_id"); exec_id != data.end() && exec_id->is_string())
    links = mon::exec_id_links(exec_id->get<std::string>());
  if (auto id = data.find("policy_id"); id != data.end() && id->is_number_integer())
    links["policy"] = policy_url(id->get<int64_t>());
  return links;
}

}  // namespace adam
