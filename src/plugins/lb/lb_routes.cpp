// The lb plugin's routes (docs/lb.md "Routes"): the services stored by
// lb::ServiceStore and their backends, explain through the loaded program,
// each service's rates stream, HTML fragments for the console and the page
// /lb (lb_pages.cpp).
#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/errors.h"
#include "core/query_params.h"
#include "plugins/lb/lb_pages.h"
#include "plugins/lb/lb_plugin.h"
#include "plugins/lb/service_store.h"

namespace adam {
namespace {

using lb::Service;
using nlohmann::json;

const std::string kServices = "/api/v1/lb/services";
const std::string kExplain = "/api/v1/lb/explain";

int64_t service_id_param(const Request& req) {
  const std::string& text = req.params.at(0);
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) throw not_found("no lb service with id " + text);
  return id;
}

// The backend address of a route ({address}, percent-decoded by the router).
lb::IpAddress address_param(const Request& req) {
  try {
    return lb::parse_address(req.params.at(1), "address");
  } catch (const ApiError&) {
    throw not_found("no backend '" + req.params.at(1) + "': not an IPv4 or IPv6 address");
  }
}

// A service's fields and id: what the audit trail records of it.
json audited(const Service& s) {
  json j = lb::service_to_json(s);
  j["id"] = s.id;
  return j;
}

// The console form's text of a number: the number where it reads as one,
// else the text (the service's checks name the field).
json number_or_text(const std::string& text) {
  if (!text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string::npos)
    return std::stoll(text);
  return text;
}

std::string form_value(const Request& req, const std::string& key) {
  for (const auto& [k, v] : req.form)
    if (k == key) return v;
  return "";
}

// A service body: JSON, or the console's form (name, vip, port, proto, mode,
// backends as lines "address [weight]", health.type none|tcp|http,
// health.port, health.path).
json service_body(const Request& req) {
  if (req.form.empty()) return req.body;
  json body = json::object();
  for (const char* field : {"name", "vip", "proto", "mode"})
    if (const std::string v = form_value(req, field); !v.empty()) body[field] = v;
  for (const char* field : {"port", "table_size"})
    if (const std::string v = form_value(req, field); !v.empty()) body[field] = number_or_text(v);
  json backends = json::array();
  std::istringstream lines(form_value(req, "backends"));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string address, weight, rest;
    if (!(words >> address)) continue;  // a blank line
    json backend = {{"address", address}};
    if (words >> weight) backend["weight"] = number_or_text(weight);
    if (words >> rest) backend["extra"] = rest;  // refused naming backends[i]
    backends.push_back(std::move(backend));
  }
  body["backends"] = std::move(backends);
  const std::string type = form_value(req, "health.type");
  if (!type.empty() && type != "none") {
    json health = {{"type", type}};
    if (const std::string port = form_value(req, "health.port"); !port.empty())
      health["port"] = number_or_text(port);
    if (const std::string path = form_value(req, "health.path"); !path.empty() && type == "http")
      health["path"] = path;
    body["health"] = std::move(health);
  }
  return body;
}

// A backend body or a weight body: JSON, or the form's text.
json backend_body(const Request& req) {
  if (req.form.empty()) return req.body;
  json body = json::object();
  if (const std::string a = form_value(req, "address"); !a.empty()) body["address"] = a;
  if (const std::string w = form_value(req, "weight"); !w.empty()) body["weight"] = number_or_text(w);
  return body;
}

// PUT .../backends/{address}'s {"weight": W}, checked as a backend's weight.
uint32_t weight_of(const json& body, const lb::IpAddress& address) {
  if (!body.is_object() || !body.contains("weight"))
    throw bad_request("weight", "missing field 'weight' (0..65535; 0 drains)");
  for (const auto& [key, value] : body.items())
    if (key != "weight")
      throw bad_request(key, "unknown field '" + key + "': this route takes {\"weight\": W}");
  return lb::backend_from_json({{"address", address.to_string()}, {"weight", body["weight"]}}, "").weight;
}

int64_t nanoseconds_since_epoch() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::vector<Route> LbPlugin::routes() {
  if (!store_) return {};  // no database (kernel-only tests): nothing to serve
  lb::ServiceStore* store = store_.get();
  const std::string one = kServices + "/([0-9]+)";
  const std::string one_name = kServices + "/{id}";
  const std::string backend = one + "/backends/([^/]+)";
  const std::string backend_name = one_name + "/backends/{address}";
  auto changed = [this](const lb::ServiceStore::Change& c) {
    return Reply{200, resource(c.after), audited(c.before), audited(c.after)};
  };
  std::vector<Route> r;

  r.push_back({"GET", kServices, kServices, Access::viewer,
               [this, store](const Request&) {
                 return Reply{
                     200,
                     {{"services", resources(store->list())},
                      {"links", {{"self", kServices}, {"create", kServices}, {"explain", kExplain}}}}};
               },
               lb::services_html});
  r.push_back({"POST", kServices, kServices, Access::admin,
               [this, store](const Request& req) {
                 const Service added = store->add(lb::service_from_json(service_body(req)));
                 return Reply{201, resource(added), nullptr, audited(added)};
               },
               lb::service_html});
  r.push_back({"GET", one, one_name, Access::viewer,
               [this, store](const Request& req) {
                 return Reply{200, resource(store->get(service_id_param(req)))};
               },
               lb::service_html});
  r.push_back({"PUT", one, one_name, Access::admin,
               [store, changed](const Request& req) {
                 const int64_t id = service_id_param(req);
                 store->get(id);  // 404 before the body's 400
                 return changed(store->replace(id, lb::service_from_json(service_body(req))));
               },
               lb::service_html});
  r.push_back({"DELETE", one, one_name, Access::admin, [store](const Request& req) {
                 return Reply{204, nullptr, audited(store->remove(service_id_param(req)))};
               }});

  r.push_back({"POST", one + "/backends", one_name + "/backends", Access::admin,
               [store, changed](const Request& req) {
                 const int64_t id = service_id_param(req);
                 store->get(id);
                 Reply reply = changed(store->add_backend(id, lb::backend_from_json(backend_body(req), "")));
                 reply.status = 201;
                 return reply;
               },
               lb::service_html});
  r.push_back({"PUT", backend, backend_name, Access::admin,
               [store, changed](const Request& req) {
                 const int64_t id = service_id_param(req);
                 const lb::IpAddress address = address_param(req);
                 store->get(id);
                 return changed(store->set_weight(id, address, weight_of(backend_body(req), address)));
               },
               lb::service_html});
  r.push_back({"DELETE", backend, backend_name, Access::admin,
               [store, changed](const Request& req) {
                 return changed(store->remove_backend(service_id_param(req), address_param(req)));
               },
               lb::service_html});
  r.push_back({"POST", backend + "/drain", backend_name + "/drain", Access::admin,
               [store, changed](const Request& req) {
                 return changed(store->set_weight(service_id_param(req), address_param(req), 0));
               },
               lb::service_html});

  // Viewer access: explaining a packet changes nothing (the program runs on
  // it through BPF_PROG_TEST_RUN). The console's form sends its fields as text.
  r.push_back({"POST", kExplain, kExplain, Access::viewer,
               [this](const Request& req) {
                 return Reply{200, explain(req.body)};
               },
               lb::explain_html});

  // Once a second: each backend's packets per second, as `series` for the
  // console's chart ("<address> pps"), in the service's order.
  Route rates{"GET", one + "/rates", one_name + "/rates", Access::viewer};
  rates.stream = [this, store](const Request& req) {
    const int64_t id = service_id_param(req);
    store->get(id);  // 404 for a service there is not
    auto previous = std::make_shared<std::optional<Reading>>();
    return Stream{std::chrono::seconds(1), [this, store, id, previous](const EventSink& send) {
                    Reading now = backend_packets(id);
                    if (*previous) {
                      const double seconds =
                          std::max(1e-3, std::chrono::duration<double>(now.at - (*previous)->at).count());
                      nlohmann::ordered_json series = nlohmann::ordered_json::object();
                      std::vector<lb::Backend> backends;
                      try {
                        backends = store->get(id).backends;
                      } catch (const ApiError&) {
                        return false;  // removed: the stream ends
                      }
                      for (const lb::Backend& b : backends) {
                        const std::string address = b.address.to_string();
                        const auto was = (*previous)->packets.find(address);
                        const auto is = now.packets.find(address);
                        const uint64_t before = was == (*previous)->packets.end() ? 0 : was->second;
                        const uint64_t after = is == now.packets.end() ? 0 : is->second;
                        // A counter that went back (a slot given anew) counts from zero.
                        const uint64_t delta = after >= before ? after - before : after;
                        series[address + " pps"] = std::llround(static_cast<double>(delta) / seconds);
                      }
                      const nlohmann::ordered_json event = {{"ts", nanoseconds_since_epoch()},
                                                            {"series", std::move(series)}};
                      send("rates", event.dump(-1, ' ', false, json::error_handler_t::replace));
                    }
                    *previous = std::move(now);
                    return true;
                  }};
  };
  r.push_back(std::move(rates));
  refuse_query_parameters(r);  // the pages' own (?service=) come after
  for (auto& page : lb::pages()) r.push_back(std::move(page));
  return r;
}

}  // namespace adam
