// The firewall's routes (/api/v1/firewall/..., docs/api.md): rules and the
// ruleset (stored by fw::RuleStore, applied to the kernel by apply()),
// explain, stats and the flow stream, with HTML fragments for the console,
// and its console page (/firewall).
#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/templates.h"
#include "core/errors.h"
#include "plugins/firewall/datapath.h"
#include "plugins/firewall/firewall_plugin.h"
#include "plugins/firewall/rule_json.h"
#include "plugins/firewall/rule_store.h"

namespace adam {
namespace {

using nlohmann::json;

const std::string kRules = "/api/v1/firewall/rules";

std::string rule_url(uint32_t id) { return kRules + "/" + std::to_string(id); }

// The {id} of a route; an id too large to exist is as unknown as any other.
uint32_t rule_id_param(const Request& req) {
  const std::string& text = req.params.at(0);
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size())
    throw not_found("no firewall rule with id " + text);
  return id;
}

// A rule's fields and id: what the audit trail records of it.
json rule_with_id(const fw::Rule& rule) {
  json j = fw::rule_to_json(rule);
  j["id"] = rule.id;
  return j;
}

// A rule as the API shows it: its fields, id, links and, once the kernel
// counted for it, counters {packets, bytes}.
json rule_resource(const fw::Rule& rule, const json& counters) {
  json j = rule_with_id(rule);
  const std::string self = rule_url(rule.id);
  j["links"] = {{"self", self}, {"enable", self + "/enable"}, {"disable", self + "/disable"}};
  if (!counters.is_null()) j["counters"] = counters;
  return j;
}

json rules_resource(const fw::Ruleset& ruleset, const json& stats) {
  json rules = json::array();
  const json& counters = stats["rules"];
  for (const fw::Rule* rule : fw::listing_order(ruleset)) {
    auto it = counters.find(std::to_string(rule->id));
    rules.push_back(rule_resource(*rule, it != counters.end() ? *it : json()));
  }
  return {{"default", fw::action_name(ruleset.default_action)},
          {"rules", std::move(rules)},
          {"links",
           {{"self", kRules},
            {"create", kRules},
            {"ruleset", "/api/v1/firewall/ruleset"},
            {"explain", "/api/v1/firewall/explain"},
            {"stats", "/api/v1/firewall/stats"},
            {"flow", "/api/v1/firewall/flow"}}}};
}

// The ruleset export: what PUT /firewall/ruleset takes back.
json ruleset_resource(const fw::Ruleset& ruleset) {
  json j = fw::ruleset_to_json(ruleset);
  j["links"] = {{"self", "/api/v1/firewall/ruleset"}, {"rules", kRules}};
  return j;
}

// A rule from a request body; `id` is where it must be stored (0: new).
fw::Rule rule_from_body(const json& body, uint32_t id) {
  fw::Rule rule = fw::rule_from_json(body);
  if (id == 0 && rule.id != 0)
    throw bad_request("id",
                      "ids are given by adamd: leave 'id' out (PUT " + kRules + "/{id} replaces a rule)");
  if (id != 0 && rule.id != 0 && rule.id != id)
    throw bad_request("id",
                      "is " + std::to_string(rule.id) + " but the URL names rule " + std::to_string(id));
  return rule;
}

// A rule's row (src/plugins/firewall/templates/): the rule with its match
// as one line and `counters` null until the kernel counted for it.
json rule_row_data(const json& rule) {
  json data = rule;
  data["match_summary"] = fw::match_summary(rule["match"]);
  if (!data.contains("counters")) data["counters"] = nullptr;
  return data;
}

std::string rule_row_html(const json& rule) {
  return templates::render("firewall/rule_row", rule_row_data(rule));
}

std::string rules_html(const json& list) {
  json data = list;
  for (auto& rule : data["rules"]) rule = rule_row_data(rule);
  return templates::render("firewall/rules", data);
}

// Per-second rate of a counter between two readings; a counter that went
// back (the firewall was stopped, its pins removed) counts from zero.
int64_t rate(uint64_t before, uint64_t now, double seconds) {
  const uint64_t delta = now >= before ? now - before : now;
  return std::llround(static_cast<double>(delta) / seconds);
}

}  // namespace

std::vector<Route> FirewallPlugin::routes() {
  if (!rules_) return {};  // no database (kernel-only tests): nothing to serve
  fw::RuleStore* rules = rules_.get();
  // One rule's resource reads that rule's counters only.
  auto resource = [this](const fw::Rule& rule) { return rule_resource(rule, rule_counters(rule.id)); };
  const std::string one = kRules + "/([0-9]+)";
  const std::string one_name = kRules + "/{id}";
  std::vector<Route> r;

  r.push_back({"GET", kRules, kRules, Access::viewer,
               [this, rules](const Request&) {
                 return Reply{200, rules_resource(rules->ruleset(), stats())};
               },
               rules_html});
  r.push_back({"POST", kRules, kRules, Access::admin,
               [rules, resource](const Request& req) {
                 const fw::Rule added = rules->add(rule_from_body(req.body, 0));
                 return Reply{201, resource(added), nullptr, rule_with_id(added)};
               },
               rule_row_html});
  r.push_back({"GET", one, one_name, Access::viewer,
               [rules, resource](const Request& req) {
                 return Reply{200, resource(rules->get(rule_id_param(req)))};
               },
               rule_row_html});
  // A changed rule: the resource, before and after for the audit trail.
  auto changed = [resource](const fw::RuleStore::Change<fw::Rule>& c) {
    return Reply{200, resource(c.after), rule_with_id(c.before), rule_with_id(c.after)};
  };
  r.push_back({"PUT", one, one_name, Access::admin,
               [rules, changed](const Request& req) {
                 const uint32_t id = rule_id_param(req);
                 return changed(rules->replace(id, rule_from_body(req.body, id)));
               },
               rule_row_html});
  r.push_back({"DELETE", one, one_name, Access::admin, [rules](const Request& req) {
                 return Reply{204, nullptr, rule_with_id(rules->remove(rule_id_param(req)))};
               }});
  r.push_back({"POST", one + "/(enable|disable)", one_name + "/{enable|disable}", Access::admin,
               [rules, changed](const Request& req) {
                 return changed(rules->set_enabled(rule_id_param(req), req.params.at(1) == "enable"));
               },
               rule_row_html});

  r.push_back({"GET", "/api/v1/firewall/ruleset", "/api/v1/firewall/ruleset", Access::viewer,
               [rules](const Request&) {
                 return Reply{200, ruleset_resource(rules->ruleset())};
               }});
  r.push_back({"PUT", "/api/v1/firewall/ruleset", "/api/v1/firewall/ruleset", Access::admin,
               [rules](const Request& req) {
                 const auto c = rules->replace_all(fw::ruleset_from_json(req.body));
                 return Reply{200, ruleset_resource(c.after), fw::ruleset_to_json(c.before),
                              fw::ruleset_to_json(c.after)};
               }});

  // Viewer access: explaining a packet changes nothing.
  r.push_back({"POST", "/api/v1/firewall/explain", "/api/v1/firewall/explain", Access::viewer,
               [this](const Request& req) {
                 const fw::PacketQuery query = fw::packet_query_from_json(req.body);
                 const fw::Decision decision = explain(query.packet, query.iface);
                 json j = {{"verdict", fw::action_name(decision.action)},
                           {"rule_id", decision.rule_id ? json(decision.rule_id) : json(nullptr)}};
                 if (decision.rule_id) j["links"] = {{"rule", rule_url(decision.rule_id)}};
                 return Reply{200, j};
               }});
  r.push_back(
      {"GET", "/api/v1/firewall/stats", "/api/v1/firewall/stats", Access::viewer, [this](const Request&) {
         json j = stats();
         j["links"] = {{"self", "/api/v1/firewall/stats"}, {"flow", "/api/v1/firewall/flow"}};
         return Reply{200, j};
       }});

  // The pass/drop rates of the last second, once a second: each poll reads
  // the totals and sends the rates since the previous one.
  Route flow{"GET", "/api/v1/firewall/flow", "/api/v1/firewall/flow", Access::viewer};
  flow.stream = [this](const Request&) {
    using clock = std::chrono::steady_clock;
    struct Reading {
      fw::Totals totals;
      clock::time_point at;
    };
    auto previous = std::make_shared<std::optional<Reading>>();
    return Stream{std::chrono::seconds(1), [this, previous](const EventSink& send) {
                    const Reading now{totals(), clock::now()};
                    if (*previous) {
                      const fw::Totals& before = (*previous)->totals;
                      const double seconds = std::chrono::duration<double>(now.at - (*previous)->at).count();
                      const json event = {
                          {"ts", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count()},
                          {"pass_pps", rate(before.pass.packets, now.totals.pass.packets, seconds)},
                          {"drop_pps", rate(before.drop.packets, now.totals.drop.packets, seconds)},
                          {"pass_bps", rate(before.pass.bytes, now.totals.pass.bytes, seconds)},
                          {"drop_bps", rate(before.drop.bytes, now.totals.drop.bytes, seconds)}};
                      send("flow", event.dump());
                    }
                    *previous = now;
                    return true;
                  }};
  };
  r.push_back(std::move(flow));

  // The console's firewall page of the active machine: its rules table,
  // read through that machine's API.
  Route page{"GET", "/firewall", "/firewall", Access::viewer, [](const Request& req) {
               Reply reply;
               reply.content = rules_html(req.api("GET", kRules, nullptr));
               reply.content_type = "text/html; charset=utf-8";
               return reply;
             }};
  page.page = Page::machine;
  page.nav = "Firewall";
  r.push_back(std::move(page));
  return r;
}

}  // namespace adam
