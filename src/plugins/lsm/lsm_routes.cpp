// The lsm plugin's routes (docs/lsm.md "Policies"): the policies stored by
// lsm::PolicyStore, their form's schema, promote with its evidence, HTML
// fragments for the console, and the Enforcement page (/lsm).
#include <charconv>
#include <nlohmann/json.hpp>

#include "api/templates.h"
#include "core/config_schema.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/event_query.h"
#include "core/query_params.h"
#include "plugins/lsm/lsm_pages.h"
#include "plugins/lsm/lsm_plugin.h"
#include "plugins/lsm/policy_store.h"

namespace adam {

namespace {

using lsm::Policy;
using nlohmann::json;

const std::string kPolicies = "/api/v1/lsm/policies";
const std::string kSchema = kPolicies + "/schema";
constexpr const char* kDefaultWindow = "24h";

int64_t policy_id_param(const Request& req) {
  const std::string& text = req.params.at(0);
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) throw not_found("no lsm policy with id " + text);
  return id;
}

// A policy's fields and id: what the audit trail records of it.
json audited(const Policy& p) {
  json j = lsm::policy_to_json(p);
  j["id"] = p.id;
  return j;
}

// The policy form's fields (GET .../schema): the config schema's format
// (core/config_schema.h), so the console renders it as it renders a
// plugin's start form, each match field with the kinds it belongs to.
json policy_schema() {
  const int64_t list_max = ADAM_LSM_MAX_SCOPE;
  auto list = [&](std::string name, std::string items, std::string help) {
    return ConfigSchema::Field{.name = std::move(name),
                               .type = "array",
                               .items = std::move(items),
                               .help = std::move(help),
                               .max_items = list_max};
  };
  ConfigSchema s;
  s.field({.name = "name", .type = "string", .help = "1 to 128 bytes", .required = true});
  s.field({.name = "kind",
           .type = "string",
           .help = "what the policy decides: exec, file (opens), connect or bind",
           .required = true,
           .choices = {"exec", "file", "connect", "bind"}});
  s.field({.name = "action",
           .type = "string",
           .help = "audit records lsm.audit and lets it happen; deny stops it",
           .required = true,
           .choices = {"audit", "deny"}});
  s.field(list("match.path", "string", "absolute paths; ending in / a prefix (exec, file)"));
  s.field({.name = "match.access",
           .type = "array",
           .items = "string",
           .help = "read, write (file; none: both)",
           .max_items = 2});
  s.field(list("match.dst", "string", "destination CIDRs, e.g. 203.0.113.0/24 (connect; none: all)"));
  s.field(list("match.dst_port", "string", "destination ports or ranges, e.g. 443, 9000-9100 (connect)"));
  s.field(list("match.addr", "string", "bound addresses or CIDRs (bind; none: all)"));
  s.field(list("match.port", "string", "bound ports or ranges (bind)"));
  s.field({.name = "match.proto",
           .type = "array",
           .items = "string",
           .help = "tcp, udp (none: both)",
           .max_items = 2});
  s.field(list("scope.uid", "integer", "only these real uids (none: all)"));
  s.field(list("scope.comm", "string", "only these comms, ≤ 15 bytes (none: all)"));
  s.field(list("scope.cgroup", "string", "only in or below these cgroup v2 paths (none: all)"));
  s.field(list("scope.parent", "string", "only when the parent binary is one of these paths or prefixes"));
  s.field(
      {.name = "priority", .type = "integer", .help = "ascending; ties: lower id first", .default_value = 0});
  s.field({.name = "enabled", .type = "boolean", .help = "", .default_value = true});
  s.field({.name = "fail",
           .type = "string",
           .help = "fanotify only: what an operation gets when adamd cannot answer in time",
           .default_value = "open",
           .choices = {"open", "closed"}});
  s.field({.name = "force",
           .type = "boolean",
           .help = "allow a deny of a shell, env or the loader for every process",
           .default_value = false});
  s.field({.name = "description", .type = "string", .help = "up to 1024 bytes"});
  json schema = s.to_json();
  const std::map<std::string, json> kinds = {
      {"match.path", {"exec", "file"}},    {"match.access", {"file"}}, {"match.dst", {"connect"}},
      {"match.dst_port", {"connect"}},     {"match.addr", {"bind"}},   {"match.port", {"bind"}},
      {"match.proto", {"connect", "bind"}}};
  for (auto& field : schema["fields"])
    if (auto it = kinds.find(field["name"]); it != kinds.end()) field["kinds"] = it->second;
  schema["links"] = {{"self", kSchema}, {"create", kPolicies}};
  return schema;
}

// A body as policy_from_json takes it: JSON, or the console's form (its
// keys the schema's dotted names, "match.path").
json policy_body(const Request& req) {
  if (req.form.empty()) return req.body;
  const json flat = config_from_text(policy_schema(), req.form);
  json body = json::object();
  for (const auto& [key, value] : flat.items()) {
    const size_t dot = key.find('.');
    if (dot == std::string::npos)
      body[key] = value;
    else
      body[key.substr(0, dot)][key.substr(dot + 1)] = value;
  }
  return body;
}

// POST .../promote's window: {"window": "24h"} or the form's field, a span.
std::string window_of(const Request& req) {
  const json body = req.form.empty() ? req.body : config_from_text({{"fields", json::array()}}, req.form);
  if (!body.is_object() || !body.contains("window")) return kDefaultWindow;
  if (!body["window"].is_string()) throw bad_request("window", "must be a span such as \"24h\" or \"7d\"");
  const std::string text = body["window"].get<std::string>();
  return text.empty() ? kDefaultWindow : text;
}

// The lsm.audit events of policy `id` in the span `window` back from now.
json audit_count(EventStore& store, int64_t id, const std::string& window) {
  const TimeNs now = now_ns();
  EventQuery q;
  try {
    q = parse_event_query(
        {{"last", window}, {"plugin", "lsm"}, {"kind", "lsm.audit"}, {"data.policy_id", std::to_string(id)}},
        now);
  } catch (const ApiError& e) {
    throw bad_request("window", e.what());
  }
  int64_t count = 0;
  std::optional<EventCursor> cursor;
  do {
    const EventPage page = store.query(q.filter, cursor, kMaxEventLimit);
    count += static_cast<int64_t>(page.events.size());
    cursor = page.next;
  } while (cursor);
  return {{"would_have_denied", count}, {"since", q.filter.since}, {"until", now}};
}

}  // namespace

std::vector<Route> LsmPlugin::routes() {
  if (!store_) return {};  // no database (kernel-only tests): nothing to serve
  lsm::PolicyStore* store = store_.get();
  EventStore* events = ctx_.events ? &ctx_.events->store() : nullptr;
  const std::string one = kPolicies + "/([0-9]+)";
  const std::string one_name = kPolicies + "/{id}";
  auto changed = [this](const lsm::PolicyStore::Change<Policy>& c) {
    return Reply{200, resource(c.after), audited(c.before), audited(c.after)};
  };
  std::vector<Route> r;

  r.push_back({"GET", kPolicies, kPolicies, Access::viewer,
               [this, store](const Request&) {
                 std::vector<Policy> policies = store->list();
                 std::stable_sort(policies.begin(), policies.end(), [](const Policy& a, const Policy& b) {
                   return a.priority < b.priority;  // listed by id: ties stay so
                 });
                 json by_kind = json::object(), details = json::object();
                 const auto choices = mechanisms();
                 for (lsm::Kind kind : lsm::kAllKinds) {
                   const Choice& c = choices[static_cast<size_t>(kind)];
                   by_kind[lsm::name_of(kind)] = c.mechanism ? json(lsm::name_of(*c.mechanism)) : json();
                   details[lsm::name_of(kind)] = c.detail;
                 }
                 return Reply{200,
                              {{"policies", resources(policies)},
                               {"mechanisms", by_kind},
                               {"mechanism_detail", details},
                               {"links",
                                {{"self", kPolicies},
                                 {"create", kPolicies},
                                 {"schema", kSchema},
                                 {"events", "/api/v1/events?plugin=lsm"},
                                 {"page", "/lsm"}}}}};
               },
               lsm::policies_html});
  r.push_back({"GET", kSchema, kSchema, Access::viewer, [](const Request&) {
                 return Reply{200, policy_schema()};
               }});
  r.push_back({"POST", kPolicies, kPolicies, Access::admin,
               [this, store](const Request& req) {
                 const Policy added = store->add(checked(lsm::policy_from_json(policy_body(req))));
                 return Reply{201, resource(added), nullptr, audited(added)};
               },
               lsm::policy_row_html});
  r.push_back({"GET", one, one_name, Access::viewer,
               [this, store](const Request& req) {
                 return Reply{200, resource(store->get(policy_id_param(req)))};
               },
               lsm::policy_row_html});
  r.push_back({"PUT", one, one_name, Access::admin,
               [this, store, changed](const Request& req) {
                 const int64_t id = policy_id_param(req);
                 store->get(id);  // 404 before the body's 400
                 return changed(store->replace(id, checked(lsm::policy_from_json(policy_body(req)))));
               },
               lsm::policy_row_html});
  r.push_back({"DELETE", one, one_name, Access::admin, [store](const Request& req) {
                 return Reply{204, nullptr, audited(store->remove(policy_id_param(req)))};
               }});
  r.push_back({"POST", one + "/(enable|disable)", one_name + "/{enable|disable}", Access::admin,
               [this, store, changed](const Request& req) {
                 const int64_t id = policy_id_param(req);
                 const bool enable = req.params.at(1) == "enable";
                 if (enable) checked(store->get(id));  // still enforceable here
                 return changed(store->set_enabled(id, enable));
               },
               lsm::policy_row_html});
  r.push_back({"POST", one + "/promote", one_name + "/promote", Access::admin,
               [this, store, events, changed](const Request& req) {
                 const int64_t id = policy_id_param(req);
                 Policy promoted = store->get(id);
                 if (promoted.action != lsm::Action::audit)
                   throw conflict("policy " + std::to_string(id) +
                                  " is not an audit policy: there is nothing to promote");
                 const std::string window = window_of(req);
                 if (!events)
                   throw unavailable("adamd runs without an event store: there is no evidence to count");
                 json answer = audit_count(*events, id, window);
                 promoted.action = lsm::Action::deny;
                 checked(promoted);  // a deny may need force where the audit did not
                 Reply reply = changed(store->set_action(id, lsm::Action::deny));
                 answer["policy"] = std::move(reply.body);
                 answer["window"] = window;
                 reply.body = std::move(answer);
                 return reply;
               },
               lsm::promoted_html});
  refuse_query_parameters(r);  // the pages' own come after
  for (auto& page : lsm::pages()) r.push_back(std::move(page));
  return r;
}

}  // namespace adam
