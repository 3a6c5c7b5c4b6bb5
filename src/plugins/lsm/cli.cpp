#include "plugins/lsm/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

using adamctl::text;
using nlohmann::json;

namespace adam::lsm {
namespace {

const std::string kPolicies = "/api/v1/lsm/policies";

// A list of match or scope values as one line: "a, b".
std::string values_text(const json& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + text(v);
  return out;
}

std::string match_text(const json& policy) {
  std::string out;
  for (const char* part : {"match", "scope"}) {
    const json fields = policy.value(part, json::object());  // held: the loop reads into it
    for (const auto& [key, values] : fields.items())
      out += (out.empty() ? "" : "; ") + key + " " + values_text(values);
  }
  return out.empty() ? "any" : out;
}

// A number where the text is one (uids), else the text: adamd names what is wrong.
json number_or_text(const std::string& value) {
  return !value.empty() && value.find_first_not_of("0123456789") == std::string::npos
             ? json(std::stoull(value))
             : json(value);
}

json list_of(const std::vector<std::string>& values, bool numbers = false) {
  json out = json::array();
  for (const auto& v : values) out.push_back(numbers ? number_or_text(v) : json(v));
  return out;
}

}  // namespace

std::string policy_listing(const json& list) {
  std::string out = "mechanisms:";
  for (const auto& [kind, mechanism] : list["mechanisms"].items())
    out += " " + kind + " " + (mechanism.is_null() ? "none" : text(mechanism));
  char line[512];
  std::snprintf(line, sizeof line, "\n%-5s %-6s %-8s %-6s %-9s %-3s %-13s %-24s %s\n", "ID", "PRIO", "KIND",
                "ACTION", "MECHANISM", "ON", "HITS(D/A)", "NAME", "MATCH");
  out += line;
  for (const auto& p : list["policies"]) {
    const std::string hits = text(p["hits"]["deny"]) + "/" + text(p["hits"]["audit"]);
    std::snprintf(line, sizeof line, "%-5s %-6s %-8s %-6s %-9s %-3s %-13s %-24s ", text(p["id"]).c_str(),
                  text(p["priority"]).c_str(), text(p["kind"]).c_str(), text(p["action"]).c_str(),
                  p["mechanism"].is_null() ? "none" : text(p["mechanism"]).c_str(),
                  p["enabled"] == true ? "yes" : "no", hits.c_str(), text(p["name"]).c_str());
    out += line + match_text(p) + "\n";
    for (const auto& w : p.value("warnings", json::array())) out += "      ! " + text(w) + "\n";
  }
  return out;
}

json policy_body(const AddOptions& a) {
  json body = {{"name", a.name}, {"kind", a.kind}, {"action", a.action}};
  if (!a.priority.empty()) body["priority"] = number_or_text(a.priority);
  if (a.force) body["force"] = true;
  json match = json::object(), scope = json::object();
  const bool bind = a.kind == "bind";
  if (!a.path.empty()) match["path"] = list_of(a.path);
  if (!a.dst.empty()) match[bind ? "addr" : "dst"] = list_of(a.dst);
  if (!a.port.empty()) match[bind ? "port" : "dst_port"] = list_of(a.port, true);
  if (!a.uid.empty()) scope["uid"] = list_of(a.uid, true);
  if (!a.comm.empty()) scope["comm"] = list_of(a.comm);
  if (!a.parent.empty()) scope["parent"] = list_of(a.parent);
  if (!a.cgroup.empty()) scope["cgroup"] = list_of(a.cgroup);
  if (!match.empty()) body["match"] = std::move(match);
  if (!scope.empty()) body["scope"] = std::move(scope);
  return body;
}

LsmCommands::LsmCommands(CLI::App& app) {
  lsm_ = app.add_subcommand("lsm", "the enforcement plugin's policies (exec, file, connect, bind)");
  lsm_->require_subcommand(1);
  policies_ = lsm_->add_subcommand("policies", "every policy with its mechanism here and its hits");
  add_ = lsm_->add_subcommand("add", "store a policy (adamd checks it and answers why not)");
  AddOptions& a = add_options_;
  CLI::Option* json_file = add_->add_option("--json", json_file_, "the policy as a JSON file (docs/lsm.md)");
  CLI::Option* name = add_->add_option("--name", a.name, "its name");
  add_->add_option("--kind", a.kind, "exec, file, connect or bind")->needs(name);
  add_->add_option("--action", a.action, "audit or deny")->needs(name);
  add_->add_option("--path", a.path, "exec, file: an absolute path; ending in / a prefix (repeatable)");
  add_->add_option("--dst", a.dst, "connect: a destination CIDR; bind: a bound address (repeatable)");
  add_->add_option("--port", a.port, "connect: a destination port; bind: the port; or lo-hi (repeatable)");
  add_->add_option("--uid", a.uid, "only this real uid (repeatable)");
  add_->add_option("--comm", a.comm, "only this comm (repeatable)");
  add_->add_option("--parent", a.parent, "only when the parent binary is this path or prefix (repeatable)");
  add_->add_option("--cgroup", a.cgroup, "only in or below this cgroup v2 path (repeatable)");
  add_->add_option("--priority", a.priority, "ascending, ties by id (default 0)");
  add_->add_flag("--force", a.force, "allow a deny of a shell, env or the loader for every process");
  name->excludes(json_file);
  rm_ = lsm_->add_subcommand("rm", "delete a policy");
  enable_ = lsm_->add_subcommand("enable", "enable a policy");
  disable_ = lsm_->add_subcommand("disable", "disable a policy (kept, not enforced)");
  promote_ = lsm_->add_subcommand(
      "promote", "turn an audit policy into deny, saying how many operations it would have denied");
  for (CLI::App* sub : {rm_, enable_, disable_, promote_})
    sub->add_option("id", id_, "the policy's id (adamctl lsm policies shows them)")->required();
  promote_->add_option("--window", window_, "count its lsm.audit events of this span back (24h, 7d)");
}

bool LsmCommands::selected() const { return lsm_->parsed(); }

void LsmCommands::run(adamctl::Api& api, const adamctl::Options& options) {
  auto show = [&](const json& j, const std::string& human) {
    std::cout << (options.json_output() ? j.dump(2) : human) << "\n";
  };
  if (policies_->parsed()) {
    const json list = api.call("GET", kPolicies);
    if (options.json_output())
      show(list, "");
    else
      std::cout << policy_listing(list);
    return;
  }
  if (add_->parsed()) {
    if (json_file_.empty() && add_options_.name.empty())
      throw std::runtime_error("lsm add needs --json FILE or --name, --kind and --action");
    const json body =
        json_file_.empty() ? policy_body(add_options_) : json::parse(adamctl::read_file(json_file_));
    const json p = api.call("POST", kPolicies, body);
    std::string human = "added policy " + text(p["id"]) + " (" + text(p["kind"]) + ", " + text(p["action"]) +
                        ", mechanism " + (p["mechanism"].is_null() ? "none" : text(p["mechanism"])) + ")";
    for (const auto& w : p.value("warnings", json::array())) human += "\n! " + text(w);
    show(p, human);
    return;
  }
  const std::string url = kPolicies + "/" + id_;
  if (rm_->parsed()) {
    api.call("DELETE", url);
    show(json::object(), "removed policy " + id_);
  } else if (enable_->parsed() || disable_->parsed()) {
    const json p = api.call("POST", url + (enable_->parsed() ? "/enable" : "/disable"));
    show(p, "policy " + id_ + (p["enabled"] == true ? " enabled" : " disabled"));
  } else if (promote_->parsed()) {
    const json answer = api.call("POST", url + "/promote", {{"window", window_}});
    show(answer, "policy " + id_ + " now denies; in the last " + window_ + " it would have denied " +
                     text(answer["would_have_denied"]));
  }
}

}  // namespace adam::lsm
