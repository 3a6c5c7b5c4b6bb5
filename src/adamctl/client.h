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

 private:
  const Options& options_;
  httplib::Client client_;
};

// A JSON value as text: strings without their quotes.
std::string text(const nlohmann::json& j);

// A file's whole contents (a ruleset, a config). Throws "cannot read PATH".
std::string read_file(const std::string& path);

}  // namespace adamctl
