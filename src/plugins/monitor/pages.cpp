#include "plugins/monitor/pages.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "api/html.h"
#include "api/templates.h"
#include "core/errors.h"
#include "core/event_query.h"
#include "core/time_range.h"
#include "plugins/monitor/history.h"

namespace adam::mon {

namespace {

using nlohmann::json;

constexpr const char* kProcesses = "/api/v1/monitor/processes";

std::string query_value(const Request& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? "" : it->second;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string args_text(const json& p) {
  std::string text;
  for (const auto& a : p.value("args", json::array()))
    if (a.is_string()) text += (text.empty() ? "" : " ") + a.get<std::string>();
  return text;
}

// "2026-12-01 14:37:16" (UTC) of a time in ns; "" for none.
std::string time_text(const json& ns) {
  if (!ns.is_number_integer()) return "";
  std::string text = format_rfc3339(ns.get<TimeNs>()).substr(0, 19);
  text[10] = ' ';
  return text;
}

// `text` percent-encoded as one segment of a path (the query encoding
// leaves nothing a path would read differently).
std::string path_segment(const std::string& text) { return to_query_string({{"", text}}).substr(1); }

// A link to the page of one process, relative so it stays on this
// machine's pages (/m/{id}/processes for a registered one).
std::string process_href(const json& p) {
  return "?" + to_query_string({{"exec_id", p.value("exec_id", "")}});
}

// What a row or a chain entry of the page shows of a process.
json process_row(const json& p) {
  json row = {{"exec_id", p.value("exec_id", "")},
              {"pid", p.value("pid", json())},
              {"ppid", p.value("ppid", json())},
              {"uid", p.value("uid", json())},
              {"comm", p.value("comm", "")},
              {"filename", p.value("filename", "")},
              {"args", args_text(p)},
              {"args_truncated", p.value("args_truncated", false)},
              {"started", time_text(p.value("started", json()))},
              {"exited", time_text(p.value("exited", json()))},
              {"seeded", p.value("seeded", false)},
              {"href", process_href(p)}};
  if (row["exited"] == "") row["exited"] = nullptr;
  return row;
}

// The processes as a tree in rows: each under its parent (parent_exec_id),
// depth first, siblings in start order; a process whose parent is not in
// the list is a root. With `q`, only the processes whose comm, filename or
// args contain it (case-insensitive) and their ancestors, which are shown
// as context.
json tree_rows(const json& processes, const std::string& q) {
  std::map<std::string, size_t> by_id;
  for (size_t i = 0; i < processes.size(); ++i) by_id.emplace(processes[i].value("exec_id", ""), i);
  std::map<std::string, std::vector<size_t>> children;
  std::vector<size_t> roots;
  for (size_t i = 0; i < processes.size(); ++i) {
    const std::string parent = processes[i].value("parent_exec_id", "");
    if (by_id.count(parent) && parent != processes[i].value("exec_id", ""))
      children[parent].push_back(i);
    else
      roots.push_back(i);
  }
  auto by_start = [&](size_t a, size_t b) {
    auto key = [&](size_t i) {
      return std::pair{processes[i].value("started", TimeNs{0}), processes[i].value("pid", 0)};
    };
    return key(a) < key(b);
  };
  std::sort(roots.begin(), roots.end(), by_start);
  for (auto& [parent, list] : children) std::sort(list.begin(), list.end(), by_start);

  std::vector<bool> matches(processes.size(), q.empty()), shown(processes.size(), q.empty());
  if (!q.empty()) {
    const std::string needle = lower(q);
    for (size_t i = 0; i < processes.size(); ++i) {
      const json& p = processes[i];
      const std::string text =
          lower(p.value("comm", "") + "\n" + p.value("filename", "") + "\n" + args_text(p));
      if (text.find(needle) == std::string::npos) continue;
      matches[i] = true;
      // Its ancestors are shown too; a chain that loops stops where it repeats.
      for (size_t at = i; !shown[at];) {
        shown[at] = true;
        auto parent = by_id.find(processes[at].value("parent_exec_id", ""));
        if (parent == by_id.end()) break;
        at = parent->second;
      }
    }
  }

  json rows = json::array();
  std::vector<bool> visited(processes.size(), false);
  std::vector<std::pair<size_t, int>> stack;  // (process, depth)
  for (auto r = roots.rbegin(); r != roots.rend(); ++r) stack.emplace_back(*r, 0);
  while (!stack.empty()) {
    const auto [i, depth] = stack.back();
    stack.pop_back();
    if (visited[i]) continue;
    visited[i] = true;
    const auto kids = children.find(processes[i].value("exec_id", ""));
    if (shown[i]) {
      json row = process_row(processes[i]);
      row["depth"] = depth;
      row["context"] = !matches[i];
      row["parent"] = kids != children.end();
      rows.push_back(std::move(row));
    }
    if (kids != children.end())
      for (auto c = kids->second.rbegin(); c != kids->second.rend(); ++c) stack.emplace_back(*c, depth + 1);
  }
  return rows;
}

// The tree page: live, or at `at` (a datetime-local value, UTC).
Reply tree_page(const Request& req) {
  const std::string at = query_value(req, "at");
  const std::string q = query_value(req, "q");
  json view = {{"page", req.base + "/processes"},
               {"script", "/ui/assets/monitor.js"},  // this console's (src/plugins/monitor/web/)
               {"at", at},
               {"q", q},
               {"live", at.empty()},
               {"message", nullptr}};
  json table;
  try {
    table = req.api(
        "GET",
        at.empty() ? kProcesses : kProcesses + ("?" + to_query_string({{"at", utc_datetime_local(at)}})),
        nullptr);
  } catch (const ApiError& e) {
    // Not running (503) or no snapshot that far back (422): the page stays, to pick another time.
    if (e.status() != 503 && e.status() != 422) throw;
    view["message"] = e.what();
    view["rows"] = json::array();
    return html_reply(templates::render("monitor/processes", view));
  }
  const json& processes = table["processes"];
  view["rows"] = tree_rows(processes, q);
  view["count"] = processes.size();
  view["shown"] = view["rows"].size();
  view["at_text"] = time_text(table.value("at", json()));
  view["capacity"] = table.value("capacity", json());
  view["evictions"] = table.value("evictions", json());
  const json snapshot = table.value("snapshot", json());
  view["snapshot"] = snapshot.is_object() ? json(time_text(snapshot.value("ts", json()))) : json();
  view["replayed"] = table.value("replayed", json());
  return html_reply(templates::render("monitor/processes", view));
}

// One process: its fields, ancestors up to pid 1, children, recent events,
// and the events page on its exec id since it started.
Reply process_page(const Request& req, const std::string& exec_id) {
  const json detail = req.api("GET", kProcesses + ("/" + path_segment(exec_id)), nullptr);
  const json& p = detail["process"];
  json fields = json::array();
  for (const auto& [name, value] : p.items()) {
    if (name == "links") continue;
    std::string text = value.is_string() ? value.get<std::string>() : value.is_null() ? "" : value.dump();
    if ((name == "started" || name == "exited") && value.is_number_integer())
      text = format_rfc3339(value.get<TimeNs>()) + " (" + value.dump() + ")";
    if (name == "args") text = args_text(p);
    fields.push_back({{"name", name}, {"value", text}});
  }
  json ancestors = json::array(), children = json::array();
  for (const auto& a : detail.value("ancestors", json::array())) ancestors.push_back(process_row(a));
  for (const auto& c : detail.value("children", json::array())) children.push_back(process_row(c));
  QueryParams events_query = {{"data.exec_id", p.value("exec_id", exec_id)}};
  // From where the API looks for its events (history.h), in the page's datetime-local form.
  if (p.value("started", json()).is_number_integer())
    events_query.emplace("since", format_rfc3339(events_since(p["started"].get<TimeNs>())).substr(0, 19));
  return html_reply(templates::render(
      "monitor/process", {{"process", process_row(p)},
                          {"fields", fields},
                          {"ancestors", ancestors},
                          {"children", children},
                          {"tree", req.base + "/processes"},
                          {"events_page", req.base + "/events?" + to_query_string(events_query)},
                          {"events_html", html::events({{"events", detail.value("events", json::array())},
                                                        {"links", json::object()}})}}));
}

}  // namespace

std::vector<Route> processes_pages() {
  Route page{"GET", "/processes", "/processes", Access::viewer, [](const Request& req) {
               const std::string exec_id = query_value(req, "exec_id");
               return exec_id.empty() ? tree_page(req) : process_page(req, exec_id);
             }};
  page.page = Page::machine;
  page.nav = "Processes";
  // An event's link to its process (/api/v1/monitor/processes/X) opens this page on it.
  page.shows = "/api/v1/monitor/processes/([^/]+)";
  page.shows_params = {"exec_id"};
  page.scans_store = true;  // through the processes routes it calls
  return {std::move(page)};
}

}  // namespace adam::mon
