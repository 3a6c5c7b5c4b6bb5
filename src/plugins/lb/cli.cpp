#include "plugins/lb/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

using adamctl::text;
using nlohmann::json;

namespace adam::lb {
namespace {

const std::string kServices = "/api/v1/lb/services";

// A number where the text is one, else the text: adamd names what is wrong.
json number_or_text(const std::string& value) {
  return !value.empty() && value.size() <= 18 && value.find_first_not_of("0123456789") == std::string::npos
             ? json(std::stoll(value))
             : json(value);
}

std::string share_of(const json& backend, const json& service) {
  const double size = service.value("table_size", 0.0);
  char share[16];
  std::snprintf(share, sizeof share, "%.1f%%",
                size > 0 ? 100.0 * backend.value("table_entries", 0.0) / size : 0.0);
  return share;
}

std::string count_of(const json& stats, const char* field) {
  return stats.is_object() ? text(stats.value(field, json(0))) : "-";
}

}  // namespace

std::string service_listing(const json& list) {
  char line[512];
  std::snprintf(line, sizeof line, "%-5s %-20s %-30s %-6s %s\n", "ID", "NAME", "VIP", "MODE", "PACKETS");
  std::string out = line;
  for (const auto& s : list["services"]) {
    const std::string vip = text(s["vip"]) + ":" + text(s["port"]) + "/" + text(s["proto"]);
    std::snprintf(line, sizeof line, "%-5s %-20s %-30s %-6s %s\n", text(s["id"]).c_str(),
                  text(s["name"]).c_str(), vip.c_str(), text(s["mode"]).c_str(),
                  count_of(s["stats"], "packets").c_str());
    out += line;
    for (const auto& b : s["backends"]) {
      std::snprintf(line, sizeof line, "      %-39s %-10s weight %-6s table %-7s packets %s\n",
                    text(b["address"]).c_str(), text(b["state"]).c_str(), text(b["weight"]).c_str(),
                    share_of(b, s).c_str(), count_of(b["stats"], "packets").c_str());
      out += line;
    }
    for (const auto& w : s.value("warnings", json::array())) out += "      ! " + text(w) + "\n";
  }
  return out;
}

json service_body(const AddOptions& a) {
  json body = {{"name", a.name}, {"vip", a.vip}, {"port", number_or_text(a.port)}};
  if (!a.proto.empty()) body["proto"] = a.proto;
  if (!a.mode.empty()) body["mode"] = a.mode;
  json backends = json::array();
  for (const std::string& spec : a.backends) {
    const size_t eq = spec.find('=');
    json backend = {{"address", spec.substr(0, eq)}};
    if (eq != std::string::npos) backend["weight"] = number_or_text(spec.substr(eq + 1));
    backends.push_back(std::move(backend));
  }
  body["backends"] = std::move(backends);
  if (!a.health.empty()) {
    body["health"] = {{"type", a.health}};
    if (!a.health_path.empty()) body["health"]["path"] = a.health_path;
  }
  return body;
}

LbCommands::LbCommands(CLI::App& app) {
  lb_ = app.add_subcommand("lb", "the load balancer's services and backends");
  lb_->require_subcommand(1);
  services_ = lb_->add_subcommand("services", "every service with its backends, their state and counters");
  add_ = lb_->add_subcommand("add", "store a service (adamd checks it and answers why not)");
  AddOptions& a = add_options_;
  CLI::Option* json_file = add_->add_option("--json", json_file_, "the service as a JSON file (docs/lb.md)");
  CLI::Option* name = add_->add_option("--name", a.name, "its name");
  add_->add_option("--vip", a.vip, "the virtual IP (IPv4 or IPv6)")->needs(name);
  add_->add_option("--port", a.port, "the port, 1..65535")->needs(name);
  add_->add_option("--proto", a.proto, "tcp (default) or udp");
  add_->add_option("--mode", a.mode, "l2dsr (default) or ipip");
  add_->add_option("--backend", a.backends, "ADDR or ADDR=WEIGHT (repeatable; weight 100 by default)");
  add_->add_option("--health", a.health, "a health check: tcp or http");
  add_->add_option("--health-path", a.health_path, "http: the path to GET (default /)");
  name->excludes(json_file);
  rm_ = lb_->add_subcommand("rm", "delete a service");
  rm_->add_option("id", id_, "the service's id (adamctl lb services shows them)")->required();
  backend_ = lb_->add_subcommand("backend", "add or remove a backend of a service");
  backend_->require_subcommand(1);
  backend_add_ = backend_->add_subcommand("add", "add a backend");
  backend_add_->add_option("--weight", weight_value_, "0..65535 (default 100; 0 drains)");
  backend_rm_ = backend_->add_subcommand("rm", "remove a backend (warned when it was the last one up)");
  weight_ = lb_->add_subcommand("weight", "set a backend's weight (0 drains)");
  drain_ = lb_->add_subcommand("drain", "weight 0: no new flows, existing flows stay");
  for (CLI::App* sub : {backend_add_, backend_rm_, weight_, drain_}) {
    sub->add_option("id", id_, "the service's id")->required();
    sub->add_option("address", address_, "the backend's address")->required();
  }
  weight_->add_option("weight", weight_value_, "0..65535")->required();
  explain_ = lb_->add_subcommand("explain", "which backend the loaded program picks for a flow, and why");
  explain_->add_option("--src", src_, "the client's address")->required();
  explain_->add_option("--dst", dst_, "the VIP")->required();
  explain_->add_option("--proto", proto_, "tcp (default) or udp");
  explain_->add_option("--src-port", src_port_, "the client's port")->required();
  explain_->add_option("--dst-port", dst_port_, "the service's port")->required();
  explain_->add_flag("--syn", syn_, "a TCP SYN (a new connection) rather than an ACK");
  explain_->add_option("--interface", interface_, "where it arrives (default: the first balanced interface)");
}

bool LbCommands::selected() const { return lb_->parsed(); }

void LbCommands::run(adamctl::Api& api, const adamctl::Options& options) {
  auto show = [&](const json& j, const std::string& human) {
    std::cout << (options.json_output() ? j.dump(2) : human) << "\n";
  };
  // A change's answer: the service, with its warnings.
  auto changed = [&](const json& s, std::string human) {
    for (const auto& w : s.value("warnings", json::array())) human += "\n! " + text(w);
    show(s, human);
  };
  if (services_->parsed()) {
    const json list = api.call("GET", kServices);
    if (options.json_output())
      show(list, "");
    else
      std::cout << service_listing(list);
    return;
  }
  if (add_->parsed()) {
    if (json_file_.empty() && add_options_.name.empty())
      throw std::runtime_error("lb add needs --json FILE or --name, --vip and --port");
    const json body =
        json_file_.empty() ? service_body(add_options_) : json::parse(adamctl::read_file(json_file_));
    const json s = api.call("POST", kServices, body);
    changed(s, "added service " + text(s["id"]) + " (" + text(s["name"]) + ", " + text(s["vip"]) + ":" +
                   text(s["port"]) + "/" + text(s["proto"]) + ", " + std::to_string(s["backends"].size()) +
                   " backends)");
    return;
  }
  if (explain_->parsed()) {
    json body = {{"src", src_},
                 {"dst", dst_},
                 {"proto", proto_},
                 {"src_port", number_or_text(src_port_)},
                 {"dst_port", number_or_text(dst_port_)},
                 {"syn", syn_}};
    if (!interface_.empty()) body["interface"] = interface_;
    const json e = api.call("POST", "/api/v1/lb/explain", body);
    std::string human = text(e["action"]);
    if (!e["backend"].is_null()) human += " to " + text(e["backend"]);
    if (!e["service"].is_null())
      human += " (service " + text(e["service"]["id"]) + " " + text(e["service"]["name"]) + ")";
    human += ", from the " +
             std::string(e["source"] == "flow"   ? "connection table"
                         : e["source"] == "hash" ? "Maglev table"
                                                 : "program") +
             ": " + text(e["reason"]);
    show(e, human);
    return;
  }
  const std::string url = kServices + "/" + id_;
  if (rm_->parsed()) {
    api.call("DELETE", url);
    show(json::object(), "removed service " + id_);
  } else if (backend_add_->parsed()) {
    json body = {{"address", address_}};
    if (!weight_value_.empty()) body["weight"] = number_or_text(weight_value_);
    changed(api.call("POST", url + "/backends", body), "added backend " + address_ + " to service " + id_);
  } else if (backend_rm_->parsed()) {
    changed(api.call("DELETE", url + "/backends/" + address_),
            "removed backend " + address_ + " of service " + id_);
  } else if (weight_->parsed()) {
    changed(api.call("PUT", url + "/backends/" + address_, {{"weight", number_or_text(weight_value_)}}),
            "backend " + address_ + " of service " + id_ + ": weight " + weight_value_);
  } else if (drain_->parsed()) {
    changed(api.call("POST", url + "/backends/" + address_ + "/drain"),
            "backend " + address_ + " of service " + id_ + " drained: no new flows, existing flows stay");
  }
}

}  // namespace adam::lb
