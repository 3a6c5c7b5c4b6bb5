#pragma once
// HTML fragments of the API's resources (what a request with HX-Request: true
// gets): each carries the hx-* controls for the resource's next actions.
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace adam::html {

std::string escape(const std::string& text);
// Any JSON resource without a fragment of its own, readable.
std::string json_block(const nlohmann::json& j);

std::string node(const nlohmann::json& node);
std::string plugin_row(const nlohmann::json& plugin);
std::string plugins(const nlohmann::json& list);
std::string tokens(const nlohmann::json& list);
std::string token_created(const nlohmann::json& created);
// GET /api/v1/events: a table, newest first, with a button for the next page.
std::string events(const nlohmann::json& page);
// GET /api/v1/events/histogram: the totals per bucket as inline SVG bars.
std::string histogram(const nlohmann::json& histogram);
std::string error(int status, const std::string& message, const std::string& field);

// Whole pages of the console.
std::string login_page(const std::string& message);
// `nav`: the plugins' console pages, [{title, href}]; `main`: a page's
// fragment, empty for the overview.
std::string console_page(const std::string& who, const nlohmann::json& nav, const std::string& main = {});

}  // namespace adam::html
