#pragma once
// Files compiled into adamd by cmake/Embed.cmake (web assets from npm and web/).
#include <string_view>
#include <vector>

namespace adam::embedded {

struct File {
  std::string_view name;  // file name, e.g. "htmx.min.js"
  std::string_view data;
};

extern const std::vector<File> web_assets;

}  // namespace adam::embedded
