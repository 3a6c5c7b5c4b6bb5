// The firewall's routes (/api/v1/firewall/..., docs/api.md): rules and the
// ruleset (stored by fw::RuleStore, applied to the kernel by apply()), the
// default policy, ClassBench import, explain, counters, stats and the flow
// stream, with HTML fragments for the console, and its console page
// (/firewall: templates/page.mustache).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "api/templates.h"
#include "core/errors.h"
#include "plugins/firewall/datapath.h"
#include "plugins/firewall/firewall_plugin.h"
#include "plugins/firewall/rule_form.h"
#include "plugins/firewall/rule_json.h"
#include "plugins/firewall/rule_store.h"

namespace adam {
namespace {

using nlohmann::json;

const std::string kRules = "/api/v1/firewall/rules";
const std::string kRuleset = "/api/v1/firewall/ruleset";
const std::string kDefault = "/api/v1/firewall/default";
const std::string kCounters = "/api/v1/firewall/counters";
const std::string kFlow = "/api/v1/firewall/flow";
// Rules on one page of the console's table.
constexpr size_t kPageSize = 50;
// The most ids one counters request names (a page's, with room to spare).
constexpr size_t kMaxCounterIds = 256;
// Rules the flow stream names in its series: the busiest of the last second.
constexpr size_t kTopRules = 5;

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

std::optional<std::string> query_value(const Request& req, const std::string& key) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return std::nullopt;
  return it->second;
}

// A number of the query string within [lo, hi]; 400 naming it otherwise.
std::optional<uint64_t> query_number(const Request& req, const std::string& key, uint64_t lo, uint64_t hi) {
  auto text = query_value(req, key);
  if (!text) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || value < lo || value > hi)
    throw bad_request(key, "must be an integer " + std::to_string(lo) + " to " + std::to_string(hi) +
                               ", got \"" + text->substr(0, 64) + "\"");
  return value;
}

std::string url_encoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
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
  j["links"] = {
      {"self", self}, {"enable", self + "/enable"}, {"disable", self + "/disable"}, {"form", self + "/form"}};
  if (!counters.is_null()) j["counters"] = counters;
  return j;
}

// Which rules GET /firewall/rules lists: those matching `q` (when given),
// from `offset`, at most `limit` (none: all of them, as before paging).
struct Listing {
  size_t offset = 0;
  std::optional<size_t> limit;
  std::string q;
  // The rule whose page to list: sets offset to the page holding it.
  std::optional<uint32_t> containing;

  // This listing from `offset` on.
  std::string url(size_t from) const {
    std::string url = kRules;
    auto add = [&](const std::string& key, const std::string& value) {
      url += (url.size() == kRules.size() ? "?" : "&") + key + "=" + value;
    };
    if (from != 0) add("offset", std::to_string(from));
    if (limit) add("limit", std::to_string(*limit));
    if (!q.empty()) add("q", url_encoded(q));
    return url;
  }
};

Listing listing_of(const Request& req) {
  Listing listing;
  listing.offset = query_number(req, "offset", 0, fw::kMaxRules).value_or(0);
  listing.limit = query_number(req, "limit", 1, fw::kMaxRules);
  listing.q = query_value(req, "q").value_or("");
  listing.containing = query_number(req, "containing", 1, UINT32_MAX);
  return listing;
}

// Whether `rule` is found by a search for `q` (lowercase): its id exactly,
// or a substring of its name, description, action or match summary, in any case.
bool found_by(const fw::Rule& rule, const std::string& q) {
  if (q == std::to_string(rule.id)) return true;
  for (const std::string* text : {&rule.name, &rule.description})
    if (lowercase(*text).find(q) != std::string::npos) return true;
  if (fw::action_name(rule.action).find(q) != std::string::npos) return true;
  return lowercase(fw::match_summary(fw::rule_to_json(rule)["match"])).find(q) != std::string::npos;
}

using CountersOf = std::function<json(const std::vector<uint32_t>& ids)>;

// The rules collection: the listing's rules with their counters (read for
// those rules only), how many matched (`total`) and the links to the pages
// before and after.
json rules_resource(const fw::Ruleset& ruleset, Listing listing, const CountersOf& counters_of) {
  std::vector<const fw::Rule*> found = fw::listing_order(ruleset);
  if (!listing.q.empty()) {
    const std::string q = lowercase(listing.q);
    std::erase_if(found, [&](const fw::Rule* rule) { return !found_by(*rule, q); });
  }
  const size_t total = found.size();
  if (listing.containing && listing.limit) {
    auto it = std::find_if(found.begin(), found.end(),
                           [&](const fw::Rule* rule) { return rule->id == *listing.containing; });
    if (it != found.end())
      listing.offset = static_cast<size_t>(it - found.begin()) / *listing.limit * *listing.limit;
  }
  const size_t begin = std::min(listing.offset, total);
  const size_t end = listing.limit ? std::min(total, begin + *listing.limit) : total;
  std::vector<uint32_t> ids;
  for (size_t i = begin; i < end; ++i) ids.push_back(found[i]->id);
  const json counters = counters_of(ids);
  json rules = json::array();
  for (size_t i = begin; i < end; ++i) {
    auto it = counters.find(std::to_string(found[i]->id));
    rules.push_back(rule_resource(*found[i], it != counters.end() ? *it : json()));
  }
  json links = {{"self", listing.url(begin)},
                {"search", kRules},
                {"create", kRules},
                {"ruleset", kRuleset},
                {"export", kRuleset + "?download=1"},
                {"export_classbench", kRuleset + "?format=classbench"},
                {"import_classbench", kRuleset + "?format=classbench"},
                {"default", kDefault},
                {"explain", "/api/v1/firewall/explain"},
                {"stats", "/api/v1/firewall/stats"},
                {"flow", kFlow}};
  if (end < total) links["next"] = listing.url(end);
  if (begin > 0 && listing.limit)
    links["prev"] = listing.url(begin > *listing.limit ? begin - *listing.limit : 0);
  // The counters of this page's rules (what the console polls); a whole
  // listing's ids would not fit a URL.
  if (!ids.empty() && ids.size() <= kMaxCounterIds) {
    std::string list;
    for (uint32_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
    links["counters"] = kCounters + "?ids=" + list;
  }
  json j = {{"default", fw::action_name(ruleset.default_action)},
            {"rules", std::move(rules)},
            {"total", total},
            {"offset", begin},
            {"limit", listing.limit ? json(*listing.limit) : json(nullptr)},
            {"links", std::move(links)}};
  if (!listing.q.empty()) j["q"] = listing.q;
  if (listing.containing) j["containing"] = *listing.containing;
  return j;
}

// The ruleset export: what PUT /firewall/ruleset takes back.
json ruleset_resource(const fw::Ruleset& ruleset) {
  json j = fw::ruleset_to_json(ruleset);
  j["links"] = {{"self", kRuleset}, {"rules", kRules}};
  return j;
}

json default_resource(fw::Action action) {
  return {{"default", fw::action_name(action)}, {"links", {{"self", kDefault}, {"rules", kRules}}}};
}

// A rule from a request body (JSON, or the console's form); `id` is where
// it must be stored (0: new).
fw::Rule rule_from_body(const Request& req, uint32_t id) {
  fw::Rule rule = fw::rule_from_json(req.form.empty() ? req.body : fw::rule_json_from_form(req.form));
  if (id == 0 && rule.id != 0)
    throw bad_request("id",
                      "ids are given by adamd: leave 'id' out (PUT " + kRules + "/{id} replaces a rule)");
  if (id != 0 && rule.id != 0 && rule.id != id)
    throw bad_request("id",
                      "is " + std::to_string(rule.id) + " but the URL names rule " + std::to_string(id));
  return rule;
}

// ?ids=1,2,3 of the counters route.
std::vector<uint32_t> counter_ids(const Request& req) {
  std::vector<uint32_t> ids;
  const std::string query = query_value(req, "ids").value_or("");
  std::string_view text = query;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    uint32_t id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      throw bad_request(
          "ids", "must be rule ids separated by commas, got \"" + std::string(item.substr(0, 64)) + "\"");
    ids.push_back(id);
    if (ids.size() > kMaxCounterIds)
      throw bad_request("ids", "at most " + std::to_string(kMaxCounterIds) + " rule ids at once");
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return ids;
}

// The HTML of the console (src/plugins/firewall/templates/). Each renders
// a resource's JSON only, so that a registered machine's resources (read
// through the proxy) look the same (Router::fragment).

// A rule's row: the rule with its match as one line and `counters` null
// until the kernel counted for it.
json rule_row_data(const json& rule, bool highlighted = false) {
  json data = rule;
  data["match_summary"] = fw::match_summary(rule["match"]);
  if (!data.contains("counters")) data["counters"] = nullptr;
  data["highlighted"] = highlighted;
  return data;
}

std::string rule_row_html(const json& rule) {
  return templates::render("firewall/rule_row", rule_row_data(rule));
}

std::string rules_html(const json& list) {
  json data = list;
  const json containing = list.value("containing", json());
  for (auto& rule : data["rules"]) rule = rule_row_data(rule, rule["id"] == containing);
  const size_t offset = list.value("offset", size_t{0});
  data["first"] = data["rules"].empty() ? offset : offset + 1;
  data["last"] = offset + data["rules"].size();
  return templates::render("firewall/rules", data);
}

// Out-of-band swaps of each rule's packet and byte cells: the live counters
// of the table's rows, without re-rendering the table.
std::string counters_html(const json& j) {
  json cells = json::array();
  for (const auto& [id, counter] : j["counters"].items())
    cells.push_back({{"id", id}, {"packets", counter["packets"]}, {"bytes", counter["bytes"]}});
  return templates::render("firewall/counters", {{"cells", std::move(cells)}});
}

json condition_data(std::string_view field, const std::string& values) {
  json options = json::array();
  for (std::string_view f : fw::kConditionFields) options.push_back({{"value", f}, {"selected", f == field}});
  return {{"field", field}, {"values", values}, {"options", std::move(options)}};
}

// The add/edit form: a rule resource (edit: PUT to its links.self) or the
// rules collection (a new rule: POST to its links.create). One condition row
// per match field, values as "a, b, c".
std::string rule_form_html(const json& resource) {
  const bool edit = resource.contains("id");
  json data = edit ? resource : json{{"links", resource["links"]}, {"enabled", true}, {"action", "drop"}};
  data["edit"] = edit;
  data["drop"] = data.value("action", "") == "drop";
  data["pass"] = !data["drop"].get<bool>();
  json conditions = json::array();
  const json match = data.value("match", json::object());
  for (std::string_view field : fw::kConditionFields) {
    auto it = match.find(field);
    if (it == match.end()) continue;
    std::string values;
    for (const auto& v : *it)
      values += (values.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
    conditions.push_back(condition_data(field, values));
  }
  if (conditions.empty()) conditions.push_back(condition_data("src", ""));
  data["conditions"] = std::move(conditions);
  data["blank_condition"] = condition_data("src", "");
  return templates::render("firewall/rule_form", data);
}

std::string default_form_html(const json& resource) {
  json data = resource;
  data["drop"] = resource.value("default", "") == "drop";
  data["pass"] = !data["drop"].get<bool>();
  return templates::render("firewall/default_form", data);
}

std::string explain_html(const json& decision) { return templates::render("firewall/explain", decision); }

// The console page: the flow chart, the default policy, the rules table
// (one page of it), the add form, explain, import and export.
// Where the page can copy its checked rules: every machine of the console
// (Request::machines: this adamd and the registry) but the one it shows.
json copy_targets(const Request& req) {
  json targets = json::array();
  const std::string shown = req.machine.empty() ? "local" : req.machine;  // the page's own machine
  for (const auto& m : req.machines) {
    const json& id = m["id"];
    if ((id.is_string() ? id.get<std::string>() : id.dump()) == shown || !m.contains("links") ||
        !m["links"].contains("copy"))
      continue;
    targets.push_back({{"name", m.value("name", "")}, {"copy", m["links"]["copy"]}});
  }
  return targets;
}

// `targets` (copy_targets): where the checked rules can be copied.
// `viewer`: the page's caller may only read; the page then has no write
// control (rows rendered inside it see the flag through the template's
// context; a row rendered alone answers a write, which only an admin makes).
std::string page_html(const json& list, const json& targets, bool viewer) {
  json table = list;
  table["viewer"] = viewer;
  return templates::render(
      "firewall/page",
      {{"links", list["links"]},
       {"viewer", viewer},
       {"copy_targets", targets},
       {"can_copy", !targets.empty()},
       {"into", kRules},  // the rules collection on the target machine, not through a proxy
       {"script", "/ui/assets/firewall.js"},  // this console's (src/plugins/firewall/web/)
       {"table", rules_html(table)},
       {"default_form",
        default_form_html({{"default", list["default"]}, {"links", {{"self", list["links"]["default"]}}}})},
       {"rule_form", rule_form_html({{"links", list["links"]}})}});
}

// Per-second rate of a counter between two readings; a counter that went
// back (the firewall was stopped, its pins removed) counts from zero.
int64_t rate(uint64_t before, uint64_t now, double seconds) {
  const uint64_t delta = now >= before ? now - before : now;
  return std::llround(static_cast<double>(delta) / seconds);
}

// The rules that counted the most packets between two readings of every
// rule's counters, busiest first: {id, packets}.
std::vector<std::pair<uint32_t, uint64_t>> busiest(const std::map<uint32_t, fw::Counter>& before,
                                                   const std::map<uint32_t, fw::Counter>& now, size_t n) {
  std::vector<std::pair<uint32_t, uint64_t>> moved;
  for (const auto& [id, counter] : now) {
    auto it = before.find(id);
    const uint64_t was = it == before.end() || it->second.packets > counter.packets ? 0 : it->second.packets;
    if (counter.packets > was) moved.emplace_back(id, counter.packets - was);
  }
  const size_t top = std::min(n, moved.size());
  std::partial_sort(moved.begin(), moved.begin() + top, moved.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  moved.resize(top);
  return moved;
}

int64_t nanoseconds_since_epoch() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::vector<Route> FirewallPlugin::routes() {
  if (!rules_) return {};  // no database (kernel-only tests): nothing to serve
  fw::RuleStore* rules = rules_.get();
  // One rule's resource reads that rule's counters only.
  auto resource = [this](const fw::Rule& rule) { return rule_resource(rule, rule_counters(rule.id)); };
  const CountersOf counters_of = [this](const std::vector<uint32_t>& ids) { return rule_counters(ids); };
  const std::string one = kRules + "/([0-9]+)";
  const std::string one_name = kRules + "/{id}";
  std::vector<Route> r;

  r.push_back({"GET", kRules, kRules, Access::viewer,
               [rules, counters_of](const Request& req) {
                 return Reply{200, rules_resource(rules->ruleset(), listing_of(req), counters_of)};
               },
               rules_html});
  r.push_back({"POST", kRules, kRules, Access::admin,
               [rules, resource](const Request& req) {
                 const fw::Rule added = rules->add(rule_from_body(req, 0));
                 return Reply{201, resource(added), nullptr, rule_with_id(added)};
               },
               rule_row_html});
  r.push_back({"GET", one, one_name, Access::viewer,
               [rules, resource](const Request& req) {
                 return Reply{200, resource(rules->get(rule_id_param(req)))};
               },
               rule_row_html});
  // The same rule as the console's edit form.
  r.push_back({"GET", one + "/form", one_name + "/form", Access::viewer,
               [rules, resource](const Request& req) {
                 return Reply{200, resource(rules->get(rule_id_param(req)))};
               },
               rule_form_html});
  // A changed rule: the resource, before and after for the audit trail.
  auto changed = [resource](const fw::RuleStore::Change<fw::Rule>& c) {
    return Reply{200, resource(c.after), rule_with_id(c.before), rule_with_id(c.after)};
  };
  r.push_back({"PUT", one, one_name, Access::admin,
               [rules, changed](const Request& req) {
                 const uint32_t id = rule_id_param(req);
                 return changed(rules->replace(id, rule_from_body(req, id)));
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
  r.push_back({"GET", kCounters, kCounters, Access::viewer,
               [counters_of](const Request& req) {
                 return Reply{200, {{"counters", counters_of(counter_ids(req))}}};
               },
               counters_html});

  // ?format=classbench: the rules as a ClassBench filter file (text), a
  // download.
  r.push_back(
      {"GET", kRuleset, kRuleset, Access::viewer, [rules](const Request& req) {
         const std::string format = query_value(req, "format").value_or("json");
         if (format == "classbench") {
           Reply reply;
           reply.content = fw::format_classbench(rules->ruleset());
           reply.content_type = "text/plain; charset=utf-8";
           reply.headers = {{"Content-Disposition", "attachment; filename=\"firewall-ruleset.rules\""}};
           return reply;
         }
         if (format != "json") throw bad_request("format", "is json or classbench, not '" + format + "'");
         Reply reply{200, ruleset_resource(rules->ruleset())};
         if (query_value(req, "download") == "1")
           reply.headers.emplace_back("Content-Disposition",
                                      "attachment; filename=\"firewall-ruleset.json\"");
         return reply;
       }});
  // ?format=classbench: {"classbench": "<a filter file>", "default"?} replaces
  // every rule with the file's (rule_json.h, parse_classbench); the default
  // policy stays unless given.
  r.push_back({"PUT", kRuleset, kRuleset, Access::admin, [rules](const Request& req) {
                 fw::Ruleset ruleset;
                 const std::string format = query_value(req, "format").value_or("json");
                 if (format == "classbench") {
                   if (!req.body.is_object() || !req.body.contains("classbench") ||
                       !req.body["classbench"].is_string())
                     throw bad_request("classbench", "must be the text of a ClassBench filter file");
                   ruleset.rules = fw::parse_classbench(req.body["classbench"].get<std::string>());
                   ruleset.default_action =
                       req.body.contains("default")
                           ? fw::ruleset_from_json({{"default", req.body["default"]}}).default_action
                           : rules->ruleset().default_action;
                 } else if (format == "json") {
                   ruleset = fw::ruleset_from_json(req.body);
                 } else {
                   throw bad_request("format",
                                     "must be json or classbench, got \"" + format.substr(0, 64) + "\"");
                 }
                 const auto c = rules->replace_all(std::move(ruleset));
                 return Reply{200, ruleset_resource(c.after), fw::ruleset_to_json(c.before),
                              fw::ruleset_to_json(c.after)};
               }});
  r.push_back({"GET", kDefault, kDefault, Access::viewer,
               [rules](const Request&) {
                 return Reply{200, default_resource(rules->ruleset().default_action)};
               },
               default_form_html});
  r.push_back({"PUT", kDefault, kDefault, Access::admin,
               [rules](const Request& req) {
                 if (!req.body.is_object() || !req.body.contains("default"))
                   throw bad_request("default", "missing field 'default' (\"pass\" or \"drop\")");
                 const auto action = fw::ruleset_from_json({{"default", req.body["default"]}}).default_action;
                 const auto c = rules->set_default(action);
                 return Reply{200, default_resource(c.after), default_resource(c.before)["default"],
                              default_resource(c.after)["default"]};
               },
               default_form_html});

  // Viewer access: explaining a packet changes nothing. The console's form
  // sends its fields as text.
  r.push_back({"POST", "/api/v1/firewall/explain", "/api/v1/firewall/explain", Access::viewer,
               [this, rules](const Request& req) {
                 const fw::PacketQuery query = fw::packet_query_from_json(
                     req.form.empty() ? req.body : fw::packet_json_from_form(req.form));
                 const fw::Decision decision = explain(query.packet, query.iface);
                 json j = {{"verdict", fw::action_name(decision.action)},
                           {"rule_id", decision.rule_id ? json(decision.rule_id) : json(nullptr)}};
                 if (decision.rule_id) {
                   j["links"] = {{"rule", rule_url(decision.rule_id)}};
                   try {
                     j["rule_name"] = rules->get(decision.rule_id).name;
                   } catch (const ApiError&) {
                     // Deleted since the kernel decided: the id is all there is.
                   }
                 }
                 return Reply{200, j};
               },
               explain_html});
  r.push_back(
      {"GET", "/api/v1/firewall/stats", "/api/v1/firewall/stats", Access::viewer, [this](const Request&) {
         json j = stats();
         j["rules"] = all_rule_counters();
         j["links"] = {{"self", "/api/v1/firewall/stats"}, {"flow", kFlow}};
         return Reply{200, j};
       }});

  // Once a second: the pass/drop rates of the last second (`pass_pps`...,
  // and as `series` for the console's chart, with the busiest rules). Each
  // poll reads the verdict totals and every rule's counters (one batched
  // read; `read_us` is what it took) and sends the differences since the
  // previous poll.
  Route flow{"GET", kFlow, kFlow, Access::viewer};
  flow.stream = [this, rules](const Request&) {
    using clock = std::chrono::steady_clock;
    struct Reading {
      fw::Totals totals;
      std::map<uint32_t, fw::Counter> rules;
      clock::time_point at;
    };
    auto previous = std::make_shared<std::optional<Reading>>();
    return Stream{std::chrono::seconds(1), [this, rules, previous](const EventSink& send) {
                    const auto t0 = clock::now();
                    Reading now{totals(), rule_counter_map(), clock::now()};
                    const auto read_us =
                        std::chrono::duration_cast<std::chrono::microseconds>(now.at - t0).count();
                    if (*previous) {
                      const Reading& before = **previous;
                      const double seconds = std::chrono::duration<double>(now.at - before.at).count();
                      const int64_t pass = rate(before.totals.pass.packets, now.totals.pass.packets, seconds);
                      const int64_t drop = rate(before.totals.drop.packets, now.totals.drop.packets, seconds);
                      // In this order (the chart's colours follow it): pass, drop, the busiest rules.
                      nlohmann::ordered_json series = {{"pass", pass}, {"drop", drop}};
                      for (const auto& [id, packets] : busiest(before.rules, now.rules, kTopRules)) {
                        std::string label = "rule " + std::to_string(id);
                        try {
                          label += " " + rules->get(id).name;
                        } catch (const ApiError&) {
                          // Deleted within the second: its id names it.
                        }
                        series[label] = rate(0, packets, seconds);
                      }
                      const nlohmann::ordered_json event = {
                          {"ts", nanoseconds_since_epoch()},
                          {"pass_pps", pass},
                          {"drop_pps", drop},
                          {"pass_bps", rate(before.totals.pass.bytes, now.totals.pass.bytes, seconds)},
                          {"drop_bps", rate(before.totals.drop.bytes, now.totals.drop.bytes, seconds)},
                          {"series", std::move(series)},
                          {"read_us", read_us}};
                      send("flow", event.dump(-1, ' ', false, json::error_handler_t::replace));
                    }
                    *previous = std::move(now);
                    return true;
                  }};
  };
  r.push_back(std::move(flow));

  // The console's firewall page of the active machine, read through that
  // machine's API: ?q= searches, ?offset= pages, ?rule=ID shows the page
  // holding rule ID with its row highlighted (what the events page links a
  // firewall event to).
  Route page{"GET", "/firewall", "/firewall", Access::viewer, [](const Request& req) {
               std::string target = kRules + "?limit=" + std::to_string(kPageSize);
               for (const auto& [param, api_param] :
                    {std::pair{"q", "q"}, std::pair{"offset", "offset"}, std::pair{"rule", "containing"}})
                 if (auto value = query_value(req, param))
                   target += std::string("&") + api_param + "=" + url_encoded(*value);
               json list;
               try {
                 list = req.api("GET", target, nullptr);
               } catch (const ApiError& e) {
                 // The page's ?rule= is the API's ?containing=: the error names what the URL has.
                 if (e.field() == "containing") throw ApiError(e.status(), e.code(), e.what(), "rule");
                 throw;
               }
               return html_reply(page_html(list, copy_targets(req), req.caller_role != "admin"));
             }};
  page.page = Page::machine;
  page.nav = "Firewall";
  r.push_back(std::move(page));
  return r;
}

}  // namespace adam
