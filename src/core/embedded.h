#pragma once
// Files compiled into adamd by cmake/Embed.cmake: web assets from npm and
// web/, and the console's templates (named as src/api/templates.h says).
#include <string_view>
#include <vector>

namespace adam::embedded {

struct File {
  std::string_view name;  // e.g. "htmx.min.js", "node", "firewall/rule_row"
  std::string_view data;
};

extern const std::vector<File> web_assets;
extern const std::vector<File> templates;

}  // namespace adam::embedded
