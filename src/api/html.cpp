#include "api/html.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace adam::html {

using nlohmann::json;

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string json_block(const json& j) { return "<pre class=\"json\">" + escape(j.dump(2)) + "</pre>"; }

namespace {
std::string str(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }
}  // namespace

std::string node(const json& n) {
  std::string features;
  for (const auto& [name, f] : n["features"].items()) {
    features += fmt::format("<li class=\"{}\" title=\"{}\">{} {}</li>",
                            f["available"].get<bool>() ? "state-running" : "state-stopped",
                            escape(str(f["detail"])), escape(name), f["available"].get<bool>() ? "✓" : "✗");
  }
  return fmt::format(
      "<section id=\"node\" hx-get=\"/api/v1/node\" hx-trigger=\"every 30s\" hx-swap=\"outerHTML\">"
      "<h2>{}</h2><dl><dt>kernel</dt><dd>{}</dd><dt>adamd</dt><dd>{}</dd><dt>uptime</dt><dd>{} s</dd>"
      "<dt>kernel features</dt><dd><ul class=\"features\">{}</ul></dd></dl></section>",
      escape(str(n["hostname"])), escape(str(n["kernel"]["release"])), escape(str(n["version"])),
      n["uptime_s"].dump(), features);
}

std::string plugin_row(const json& p) {
  const std::string name = escape(str(p["name"]));
  const std::string state = str(p["state"]);
  std::string actions;
  if (state == "running") {
    actions = fmt::format(
        "<button hx-post=\"/api/v1/plugins/{0}/stop\" hx-target=\"closest tr\" "
        "hx-swap=\"outerHTML\">stop</button>",
        name);
  } else if (state != "unsupported") {
    std::string ifaces;
    if (p["config"].contains("interfaces"))
      for (const auto& i : p["config"]["interfaces"]) ifaces += (ifaces.empty() ? "" : ",") + str(i);
    actions = fmt::format(
        "<form hx-post=\"/api/v1/plugins/{0}/start\" hx-target=\"closest tr\" hx-swap=\"outerHTML\">"
        "<input name=\"interfaces\" placeholder=\"interfaces, e.g. eth0\" value=\"{1}\" "
        "aria-label=\"interfaces\">"
        "<button>start</button></form>",
        name, escape(ifaces));
  }
  return fmt::format(
      "<tr id=\"plugin-{0}\"><td><strong>{0}</strong><br><span class=\"muted\">{1}</span></td>"
      "<td class=\"state-{2}\">{2}</td><td>{3}</td><td><code>{4}</code></td><td>{5}</td></tr>",
      name, escape(str(p["description"])), escape(state), escape(str(p["reason"])), escape(p["stats"].dump()),
      actions);
}

std::string plugins(const json& list) {
  std::string rows;
  for (const auto& p : list["plugins"]) rows += plugin_row(p);
  return "<table "
         "id=\"plugins\"><thead><tr><th>plugin</th><th>state</th><th>reason</th><th>stats</th><th></th></tr>"
         "</thead><tbody>" +
         rows + "</tbody></table>";
}

std::string tokens(const json& list) {
  std::string rows;
  for (const auto& t : list["tokens"])
    rows += fmt::format(
        "<tr><td>{0}</td><td>{1}</td><td>{2}</td><td><button hx-delete=\"/api/v1/tokens/{0}\" "
        "hx-target=\"closest tr\" "
        "hx-swap=\"delete\" hx-confirm=\"Revoke token {1}?\">revoke</button></td></tr>",
        t["id"].dump(), escape(str(t["name"])), escape(str(t["role"])));
  return "<table "
         "id=\"tokens\"><thead><tr><th>id</th><th>name</th><th>role</th><th></th></tr></thead><tbody>" +
         rows + "</tbody></table>";
}

std::string token_created(const json& created) {
  return fmt::format(
      "<div class=\"token-created\">Token <strong>{}</strong> ({}) created. Copy it now, it is not shown "
      "again: "
      "<code>{}</code></div>",
      escape(str(created["name"])), escape(str(created["role"])), escape(str(created["token"])));
}

std::string events(const json& page) {
  std::string rows;
  for (const auto& e : page["events"])
    rows += fmt::format(
        "<tr><td><time datetime=\"{0}\">{0}</time></td><td>{1}</td><td>{2}</td><td>{3}</td>"
        "<td><code>{4}</code></td></tr>",
        escape(str(e["time"])), escape(str(e["plugin"])), escape(str(e["kind"])), escape(str(e["machine"])),
        escape(e["data"].dump()));
  std::string more;
  if (page["links"]["next"].is_string())
    more = fmt::format(
        "<button hx-get=\"{}\" hx-target=\"closest section\" hx-swap=\"outerHTML\">older events</button>",
        escape(str(page["links"]["next"])));
  return "<section class=\"events\"><table><thead><tr><th>time</th><th>plugin</th><th>kind</th>"
         "<th>machine</th><th>data</th></tr></thead><tbody>" +
         rows + "</tbody></table>" + more + "</section>";
}

std::string histogram(const json& h) {
  constexpr int kBarWidth = 4;
  constexpr int kHeight = 60;
  int64_t max = 1;
  for (const auto& b : h["buckets"]) max = std::max(max, b["total"].get<int64_t>());
  std::string bars;
  int x = 0;
  for (const auto& b : h["buckets"]) {
    const int64_t total = b["total"].get<int64_t>();
    const int height = static_cast<int>(total * kHeight / max);
    bars += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}: {} events {}</title></rect>", x,
        kHeight - height, kBarWidth - 1, height, escape(str(b["time"])), total, escape(b["counts"].dump()));
    x += kBarWidth;
  }
  return fmt::format(
      "<figure class=\"histogram\" hx-get=\"{0}\" hx-trigger=\"every 60s\" hx-swap=\"outerHTML\">"
      "<svg width=\"{1}\" height=\"{2}\" viewBox=\"0 0 {1} {2}\" role=\"img\" "
      "aria-label=\"events per {3}\">{4}</svg><figcaption>events per {3} (max {5})</figcaption></figure>",
      escape(str(h["links"]["self"])), std::max(x, 1), kHeight, escape(str(h["bucket"])), bars, max);
}

std::string error(int status, const std::string& message, const std::string& field) {
  return fmt::format("<div class=\"error\" role=\"alert\" data-status=\"{}\">{}{}</div>", status,
                     escape(message), field.empty() ? "" : " (field: " + escape(field) + ")");
}

namespace {
std::string page(const std::string& body) {
  // Errors from the API (4xx/5xx) are swapped into #errors instead of being dropped.
  return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ADAM</title>"
         "<meta name=\"htmx-config\" content='{\"responseHandling\":[{\"code\":\"204\",\"swap\":false},"
         "{\"code\":\"[23]..\",\"swap\":true},{\"code\":\"[45]..\",\"swap\":true,\"error\":true,\"target\":"
         "\"#errors\","
         "\"swapOverride\":\"innerHTML\"}]}'>"
         "<link rel=\"stylesheet\" href=\"/ui/assets/adam.css\"><script "
         "src=\"/ui/assets/htmx.min.js\"></script>"
         "</head><body>" +
         body + "</body></html>";
}
}  // namespace

std::string login_page(const std::string& message) {
  return page(
      "<header><h1>ADAM</h1></header><main><form method=\"post\" action=\"/ui/login\">"
      "<p>Sign in with an API token (the first one is in <code>&lt;state-dir&gt;/admin.token</code>).</p>" +
      (message.empty() ? "" : "<p class=\"error\" role=\"alert\">" + escape(message) + "</p>") +
      "<input type=\"password\" name=\"token\" aria-label=\"token\" size=\"70\" autofocus> "
      "<button>sign in</button></form></main>");
}

std::string console_page(const std::string& who, const nlohmann::json& nav, const std::string& main) {
  std::string links = "<a href=\"/\">Overview</a>";
  for (const auto& entry : nav)
    links += " <a href=\"" + escape(entry["href"].get<std::string>()) + "\">" +
             escape(entry["title"].get<std::string>()) + "</a>";
  const std::string overview =
      "<div hx-get=\"/api/v1/node\" hx-trigger=\"load\" hx-swap=\"outerHTML\"></div>"
      "<h2>Plugins</h2><div hx-get=\"/api/v1/plugins\" hx-trigger=\"load\" hx-swap=\"outerHTML\"></div>"
      "<h2>Events</h2><div hx-get=\"/api/v1/events/histogram?last=24h&amp;bucket=5m\" hx-trigger=\"load\" "
      "hx-swap=\"outerHTML\"></div>"
      "<div hx-get=\"/api/v1/events?limit=50\" hx-trigger=\"load\" hx-swap=\"outerHTML\"></div>";
  return page(
      "<header><h1>ADAM</h1><nav>" + links + "</nav><span class=\"muted\">signed in as " + escape(who) +
      "</span><form method=\"post\" action=\"/ui/logout\"><button>sign out</button></form></header><main>"
      "<div id=\"errors\"></div>" +
      (main.empty() ? overview : main) + "</main>");
}

}  // namespace adam::html
