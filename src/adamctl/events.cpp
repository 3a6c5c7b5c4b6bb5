#include "adamctl/events.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <stdexcept>

using nlohmann::json;

namespace adamctl {

void print_event(const json& e) {
  std::printf("%-30s %-10s %-16s %-12s %s\n", text(e["time"]).c_str(), text(e["plugin"]).c_str(),
              text(e["kind"]).c_str(), text(e["machine"]).c_str(), e["data"].dump().c_str());
  std::fflush(stdout);
}

void print_event_header() {
  std::printf("%-30s %-10s %-16s %-12s %s\n", "TIME", "PLUGIN", "KIND", "MACHINE", "DATA");
}

EventsCommand::EventsCommand(CLI::App& app) {
  events_ = app.add_subcommand("events", "query stored events (newest N, shown oldest first) or follow them");
  events_->add_option("--last", last_, "span back from now: 90m, 24h, 7d, 2w, 3mo, 1y");
  events_->add_option("--since", since_, "from this time (RFC 3339 or epoch seconds)");
  events_->add_option("--until", until_, "up to this time (RFC 3339 or epoch seconds)");
  events_->add_option("--kind", kinds_, "only this kind (repeatable), e.g. firewall.drop");
  events_->add_option("--plugin", plugin_, "only this plugin's events");
  events_->add_option("--data", data_,
                      "only events whose data field KEY is VALUE: KEY=VALUE (repeatable, all must hold), "
                      "e.g. exec_id=... for one process's");
  events_->add_option("--limit", limit_, "at most this many (1-10000; default 100)");
  events_->add_flag("-f,--follow", follow_, "after the stored ones, print new events as they come");
}

bool EventsCommand::selected() const { return events_->parsed(); }

std::string EventsCommand::query_string() const {
  std::string q;
  auto add = [&](const std::string& name, const std::string& value) {
    if (value.empty()) return;
    q += (q.empty() ? "?" : "&") + httplib::detail::encode_query_param(name) + "=" +
         httplib::detail::encode_query_param(value);
  };
  add("last", last_);
  add("since", since_);
  add("until", until_);
  add("plugin", plugin_);
  for (const auto& k : kinds_) add("kind", k);
  for (const auto& pair : data_) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::runtime_error("--data takes KEY=VALUE, got '" + pair + "'");
    add("data." + pair.substr(0, eq), pair.substr(eq + 1));
  }
  if (limit_) add("limit", std::to_string(limit_));
  return q;
}

void EventsCommand::run(Api& api, const Options& options) {
  if (follow_) {
    follow(api, options);
    return;
  }
  const json page = api.call("GET", "/api/v1/events" + query_string());
  if (options.json_output()) {
    std::cout << page.dump(2) << "\n";
    return;
  }
  print_event_header();
  const json& events = page["events"];
  for (auto it = events.rbegin(); it != events.rend(); ++it) print_event(*it);  // oldest first, like a log
  if (page["next_cursor"].is_string())
    std::fprintf(stderr, "(older events exist: narrow the range or raise --limit)\n");
}

// The SSE stream: stored events of --last/--since first, then live ones,
// until interrupted or adamd drops a client that fell behind.
void EventsCommand::follow(Api& api, const Options& options) {
  if (!until_.empty()) throw std::runtime_error("--until cannot be followed: leave it out with -f");
  httplib::Client client(options.url);
  client.set_connection_timeout(5);
  client.set_read_timeout(60);  // adamd sends a keepalive every 15 s
  httplib::Headers headers;
  if (!options.token.empty()) headers.emplace("Authorization", "Bearer " + options.token);
  if (!options.json_output()) print_event_header();
  int status = 0;
  std::string buffer, error_body, dropped;
  auto on_frame = [&](const std::string& frame) {
    std::string event, data;
    size_t start = 0;
    while (start < frame.size()) {
      size_t end = frame.find('\n', start);
      if (end == std::string::npos) end = frame.size();
      const std::string line = frame.substr(start, end - start);
      if (line.rfind("event: ", 0) == 0) event = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data += (data.empty() ? "" : "\n") + line.substr(6);
      start = end + 1;
    }
    if (event == "dropped") dropped = data;
    if (event != "event") return;
    if (options.json_output()) {
      std::printf("%s\n", data.c_str());
      std::fflush(stdout);
    } else {
      print_event(json::parse(data));
    }
  };
  auto result = client.Get(
      api.target("/api/v1/events/stream") + query_string(), headers,
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status >= 400) {
          error_body.append(data, n);
          return true;
        }
        buffer.append(data, n);
        for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
          on_frame(buffer.substr(0, end));
          buffer.erase(0, end + 2);
        }
        return dropped.empty();
      });
  if (status >= 400) {
    const json j = json::parse(error_body, nullptr, false);
    std::string msg = "HTTP " + std::to_string(status);
    if (j.is_object() && j.contains("error")) {
      msg += ": " + text(j["error"].value("message", json("")));
      if (j["error"].contains("field")) msg += " (field: " + text(j["error"]["field"]) + ")";
    }
    throw std::runtime_error(msg);
  }
  if (!dropped.empty()) throw std::runtime_error("adamd ended the stream: " + dropped);
  if (!result)
    throw std::runtime_error("stream from " + options.url + " ended: " + httplib::to_string(result.error()));
}

}  // namespace adamctl
