#include "plugins/lsm/lsm_pages.h"

#include "api/html.h"
#include "api/templates.h"

namespace adam::lsm {

namespace {

using nlohmann::json;

// A policy as its row shows it: its match and scope as one line each.
json row_data(const json& policy) {
  json data = policy;
  auto line = [](const json& object) {
    std::string text;
    for (const auto& [key, values] : object.items()) {
      std::string list;
      for (const auto& v : values)
        list += (list.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
      text += (text.empty() ? "" : "; ") + key + " " + list;
    }
    return text;
  };
  data["match_text"] = line(policy.value("match", json::object()));
  data["scope_text"] = line(policy.value("scope", json::object()));
  data["audit"] = policy.value("action", "") == "audit";
  if (!data.contains("promotion")) data["promotion"] = nullptr;
  return data;
}

}  // namespace

std::string policy_row_html(const json& policy) {
  return templates::render("lsm/policy_row", row_data(policy));
}

std::string promoted_html(const json& promotion) {
  json row = promotion.value("policy", json::object());
  row["promotion"] = {{"would_have_denied", promotion.value("would_have_denied", 0)},
                      {"window", promotion.value("window", "")}};
  return policy_row_html(row);
}

std::string policies_html(const json& list) {
  json data = list;
  for (auto& p : data["policies"]) p = row_data(p);
  return templates::render("lsm/policies", data);
}

std::vector<Route> pages() {
  Route page{"GET", "/lsm", "/lsm", Access::viewer, [](const Request& req) {
               const json list = req.api("GET", "/api/v1/lsm/policies", nullptr);
               const json schema = req.api("GET", list["links"]["schema"].get<std::string>(), nullptr);
               json table = list;
               table["viewer"] = req.caller_role != "admin";
               json mechanisms = json::array();
               for (const auto& [kind, mechanism] : list["mechanisms"].items())
                 mechanisms.push_back({{"kind", kind},
                                       {"mechanism", mechanism},
                                       {"detail", list["mechanism_detail"].value(kind, "")}});
               // Which kinds each match field belongs to, for the form's script.
               json field_kinds = json::object();
               for (const auto& field : schema["fields"])
                 if (field.contains("kinds")) field_kinds[field["name"].get<std::string>()] = field["kinds"];
               return html_reply(templates::render(
                   "lsm/page", {{"viewer", req.caller_role != "admin"},
                                {"links", list["links"]},
                                {"mechanisms", mechanisms},
                                {"table", policies_html(table)},
                                {"fields", html::form_fields(schema, {{"action", "audit"}})},
                                {"field_kinds", field_kinds.dump()},
                                {"script", "/ui/assets/lsm.js"}}));  // this console's (src/plugins/lsm/web/)
             }};
  page.page = Page::machine;
  page.nav = "Enforcement";
  // An event's link to its policy opens this page.
  page.shows = "/api/v1/lsm/policies/([0-9]+)";
  page.shows_params = {"policy"};
  return {std::move(page)};
}

}  // namespace adam::lsm
