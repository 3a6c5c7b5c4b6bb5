#include <charconv>

#include "api/html.h"
#include "api/resources.h"
#include "core/errors.h"
#include "core/query_params.h"
#include "store/tokens.h"

namespace adam {

using nlohmann::json;

namespace {

json token_json(const Token& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"role", to_string(t.role)},
          {"created_at", t.created_at},
          {"last_used_at", t.last_used_at ? json(*t.last_used_at) : json(nullptr)},
          {"links", {{"self", "/api/v1/tokens/" + std::to_string(t.id)}}}};
}

}  // namespace

std::vector<Route> token_routes(ApiContext& ctx) {
  std::vector<Route> r;
  r.push_back(
      {"GET", "/api/v1/tokens", "/api/v1/tokens", Access::admin,
       [&ctx](const Request&) {
         json list = json::array();
         for (const auto& t : ctx.tokens.list()) list.push_back(token_json(t));
         return Reply{
             200, {{"tokens", list}, {"links", {{"self", "/api/v1/tokens"}, {"create", "/api/v1/tokens"}}}}};
       },
       html::tokens});
  r.push_back({"POST", "/api/v1/tokens", "/api/v1/tokens", Access::admin,
               [&ctx](const Request& req) {
                 const json& body = req.body;
                 if (!body.is_object())
                   throw bad_request("body", "expected a JSON object {\"name\", \"role\"}");
                 for (const auto& [key, _] : body.items())
                   if (key != "name" && key != "role") throw bad_request(key, "unknown field '" + key + "'");
                 if (!body.contains("name") || !body["name"].is_string())
                   throw bad_request("name", "name is required and must be a string");
                 Role role = Role::viewer;
                 if (body.contains("role")) {
                   auto parsed =
                       body["role"].is_string() ? parse_role(body["role"].get<std::string>()) : std::nullopt;
                   if (!parsed) throw bad_request("role", "role must be 'admin' or 'viewer'");
                   role = *parsed;
                 }
                 NewToken created = ctx.tokens.create(body["name"].get<std::string>(), role);
                 json j = token_json(created.token);
                 const json audit_after = j;  // never the secret
                 j["token"] = created.secret;
                 return Reply{201, j, nullptr, audit_after};
               },
               html::token_created});
  r.push_back(
      {"DELETE", "/api/v1/tokens/([^/]+)", "/api/v1/tokens/{id}", Access::admin, [&ctx](const Request& req) {
         const std::string& text = req.params[0];
         int64_t id = 0;
         auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
         if (ec != std::errc() || ptr != text.data() + text.size())
           throw bad_request("id", "token id must be a number");
         const Token removed = ctx.tokens.remove(id);
         return Reply{204, nullptr, token_json(removed), nullptr};
       }});
  refuse_query_parameters(r);
  return r;
}

}  // namespace adam
