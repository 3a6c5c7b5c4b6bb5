#pragma once
// The console's HTML comes from mustache templates compiled into adamd
// (CMakeLists.txt embeds them): web/templates/<name>.mustache is "<name>", a
// plugin's src/plugins/<plugin>/templates/<name>.mustache is "<plugin>/<name>".
// {{value}} is HTML-escaped; only {{{value}}} or {{&value}} write it raw.
// {{> name}} includes another template (a partial).
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace adam::templates {

// Template `name` rendered with `data` (objects, lists, strings; numbers as
// their JSON text; booleans and null for sections; bytes that are not UTF-8
// become U+FFFD). Throws std::invalid_argument for an unknown name.
std::string render(std::string_view name, const nlohmann::json& data);

// Parses every embedded template (once: later calls return at once). Throws
// std::runtime_error naming the template for a syntax error, an unknown
// partial or partials that include each other. render() calls it too; adamd
// calls it at startup so a broken template stops it there.
void load();

// The names of every embedded template, sorted.
std::vector<std::string> names();

}  // namespace adam::templates
