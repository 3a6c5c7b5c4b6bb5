#include "adamctl/client.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

using nlohmann::json;

namespace adamctl {

// Where a local adamd keeps its admin token: the default state dir, then the
// one `make run` uses in a checkout.
std::string local_admin_token() {
  for (const char* path : {"/var/lib/adam/admin.token", "var/admin.token"}) {
    std::ifstream in(path);
    std::string token;
    if (in && std::getline(in, token) && !token.empty()) return token;
  }
  return {};
}

Api::Api(const Options& options) : options_(options), client_(options.url) {
  client_.set_connection_timeout(5);
  client_.set_read_timeout(60);
}

json Api::call(const std::string& method, const std::string& path, const json& body) {
  return send(method, target(path), body);
}

std::string Api::target(const std::string& path) {
  if (options_.machine.empty()) return path;
  if (proxy_.empty()) {
    for (const auto& m : send("GET", "/api/v1/machines", nullptr).value("machines", json::array()))
      if (m.value("name", "") == options_.machine) proxy_ = m["links"]["proxy"].get<std::string>();
    if (proxy_.empty())
      throw std::runtime_error("no machine named '" + options_.machine + "' in the registry of " +
                               options_.url);
  }
  return proxy_ + path;
}

json Api::send(const std::string& method, const std::string& path, const json& body) {
  httplib::Headers headers;
  if (!options_.token.empty()) headers.emplace("Authorization", "Bearer " + options_.token);
  const std::string payload = body.is_null() ? "" : body.dump();
  httplib::Result r = method == "GET"      ? client_.Get(path, headers)
                      : method == "DELETE" ? client_.Delete(path, headers)
                      : method == "PUT"    ? client_.Put(path, headers, payload, "application/json")
                                           : client_.Post(path, headers, payload, "application/json");
  if (!r)
    throw std::runtime_error("cannot reach adamd at " + options_.url + ": " + httplib::to_string(r.error()));
  json j = r->body.empty() ? json::object() : json::parse(r->body, nullptr, false);
  if (r->status >= 400) {
    std::string msg = "HTTP " + std::to_string(r->status);
    if (j.is_object() && j.contains("error")) {
      msg += ": " + j["error"].value("message", "");
      if (j["error"].contains("field")) msg += " (field: " + j["error"]["field"].get<std::string>() + ")";
    }
    if (r->status == 401 && options_.token.empty())
      msg += "\nno token given: use --token, ADAM_TOKEN, or run as root next to a local adamd";
    throw std::runtime_error(msg);
  }
  return j;
}

std::string text(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace adamctl
