#pragma once
// adamctl's connection to adamd: where it is, which token, and one call of
// the REST API that turns the API's errors into exceptions with their text.
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

namespace adamctl {

struct Options {
  std::string url;
  std::string token;
  std::string output = "human";
  std::string machine;  // a registered machine's name: every call goes through adamd's proxy
  bool json_output() const { return output == "json"; }
};

// The admin token of a local adamd when this user can read it; else empty.
std::string local_admin_token();

class Api {
 public:
  explicit Api(const Options& options);

  // method: GET, POST, PUT or DELETE. Returns the parsed body ({} when
  // empty). Throws std::runtime_error with the API's message and field on an
  // HTTP error, or when adamd cannot be reached.
  nlohmann::json call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr);
  // Where an API path is called: itself, or with --machine that machine's
  // proxy on adamd (/api/v1/machines/{id}/proxy/api/...), looked up by name
  // in adamd's registry once.
  std::string target(const std::string& path);

 private:
  nlohmann::json send(const std::string& method, const std::string& path, const nlohmann::json& body);

  const Options& options_;
  httplib::Client client_;
  std::string proxy_;  // the machine's proxy prefix, once resolved
};

// A JSON value as text: strings without their quotes.
std::string text(const nlohmann::json& j);

// A file's whole contents (a ruleset, a config). Throws "cannot read PATH".
std::string read_file(const std::string& path);

}  // namespace adamctl
