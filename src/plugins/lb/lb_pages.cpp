#include "plugins/lb/lb_pages.h"

#include <cstdio>

#include "api/templates.h"

namespace adam::lb {

namespace {

using nlohmann::json;

// A service as its section shows it: each backend's share of the table.
json service_data(const json& service) {
  json data = service;
  const double size = service.value("table_size", 0.0);
  for (auto& b : data["backends"]) {
    char share[16];
    std::snprintf(share, sizeof share, "%.1f %%",
                  size > 0 ? 100.0 * b.value("table_entries", 0.0) / size : 0.0);
    b["share"] = share;
  }
  return data;
}

}  // namespace

std::string service_html(const json& service) {
  return templates::render("lb/service", service_data(service));
}

std::string services_html(const json& list) {
  json data = list;
  for (auto& s : data["services"]) s = service_data(s);
  return templates::render("lb/services", data);
}

std::string explain_html(const json& answer) { return templates::render("lb/explain", answer); }

std::vector<Route> pages() {
  Route page{
      "GET", "/lb", "/lb", Access::viewer, [](const Request& req) {
        json list = req.api("GET", "/api/v1/lb/services", nullptr);
        const bool viewer = req.caller_role != "admin";
        list["viewer"] = viewer;
        // ?service=ID (an event's link to its service): that section highlighted.
        const auto shown = req.query.find("service");
        for (auto& s : list["services"])
          s["highlighted"] = shown != req.query.end() && s["id"].dump() == shown->second;
        return html_reply(templates::render(
            "lb/page", {{"viewer", viewer}, {"links", list["links"]}, {"services", services_html(list)}}));
      }};
  page.page = Page::machine;
  page.nav = "Load balancer";
  page.shows = "/api/v1/lb/services/([0-9]+)";
  page.shows_params = {"service"};
  return {std::move(page)};
}

}  // namespace adam::lb
