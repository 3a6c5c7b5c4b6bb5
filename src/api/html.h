#pragma once
// HTML of the API's resources (what a request with HX-Request: true gets)
// and the console's pages: each function shapes its resource's JSON into
// the data of its template (web/templates/, src/api/templates.h), which
// holds all the markup; URLs come from the resource's `links`.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace adam::html {

// Any JSON resource without a fragment of its own, readable.
std::string json_block(const nlohmann::json& j);

// GET /api/v1/node: facts, kernel features (what each allows), lost events
// per plugin and reason; refreshes itself.
std::string node(const nlohmann::json& node);
// The dashboard page: the live rates chart (node links.rates), the node,
// the plugins with their start/stop forms.
std::string dashboard(const nlohmann::json& node, const nlohmann::json& plugin_list, bool admin);
// A plugin's row: state, summary, counters, stats; with `admin` (the
// page's caller may write) its write controls too, those it has a link for
// (links.start: the form from its config_schema; links.stop: the button).
std::string plugin_row(const nlohmann::json& plugin, bool admin);
// The inputs of a form generated from a schema (core/config_schema.h: a
// plugin's config_schema, the lsm policy schema), each holding `values`'
// value of it: [{name, help, required, is_enum, is_string, is_integer,
// is_number, is_boolean, is_array, options, minimum, maximum, value,
// placeholder, checked}], as web/templates/plugin_start_form renders them.
nlohmann::json form_fields(const nlohmann::json& schema, const nlohmann::json& values);
std::string plugins(const nlohmann::json& list, bool admin);
// The token table with its create form (links.create) and a revoke button
// per token (its links.self).
std::string tokens(const nlohmann::json& list);
std::string token_created(const nlohmann::json& created);
// GET /api/v1/events: a table, newest first, with a button for the next page.
// An event's links (its plugin's event_links()) open the console page that
// shows the linked resource (resource_page()), else are buttons loading it
// into #event-detail; events.lost rows show count and reason.
std::string events(const nlohmann::json& page);
// One event's row (the live stream's format=html).
std::string event_row(const nlohmann::json& event);
// The events page (console.cpp shapes `view`): filter form (page, presets,
// since, until, plugins, kinds, live), export links, histogram_html,
// events_html, the live stream's URL.
std::string events_page(const nlohmann::json& view);
// GET /api/v1/events/histogram: the totals per bucket as inline SVG bars.
std::string histogram(const nlohmann::json& histogram);
std::string error(int status, const std::string& message, const std::string& field);

// The fields of a JSON value as a key/value list for a template:
// [{name, value, parts}]: a scalar or a list of scalars has `value` (text),
// an object has `parts` [{name, value}] of its scalar fields; anything deeper
// is left out (the JSON API has it). A value that is no object is one entry
// without a name.
nlohmann::json key_values(const nlohmann::json& j);

// The console pages that show API resources (Route::shows), declared by
// the router as it adds its routes, before it serves: `page` is the page's
// path ("/processes"). resource_page() gives the page of an API link (one
// through a machine's proxy too), relative to the machine's pages so it
// stays on them ("processes?exec_id=X" from /m/3/events is
// /m/3/processes?exec_id=X), or "" when no page shows it.
void add_resource_page(const std::string& page, const std::string& shows,
                       const std::vector<std::string>& params);
std::string resource_page(const std::string& api_link);

// Whole pages of the console. `links`: the console's routes (stylesheet,
// script, login, logout) and the API's entry points (node, plugins, tokens,
// events, histogram).
std::string login_page(const std::string& message, const nlohmann::json& links);
// A page inside the console layout. `layout` (Router::layout): token
// {name, role}, admin, links, nav and console_nav [{title, href, active}],
// machines [{id, name, href, active}], machine (the active one),
// machine_error (why the active machine's plugins could not be read, or
// null); `main`: the page's fragment (HTML of a route's own template).
std::string console_page(const nlohmann::json& layout, const std::string& main);

}  // namespace adam::html
