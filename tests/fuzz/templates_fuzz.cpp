// The console's templates (api/templates.h) and the html.h helpers that
// quote user input, rendered with arbitrary values. For the template the
// input picks, the data gives every name its tags use (those of its
// partials too) a fuzzed value: sections get booleans, objects or lists of
// objects (nested a few levels, every name again inside), variables get
// strings of arbitrary bytes, numbers or booleans. Every string carries a
// canary "<fz"; names only ever written raw ({{{main}}}: HTML that adamd
// rendered) get none. What must hold: rendering never throws; the output
// holds no raw "<fz" (every escaped slot escaped it) and is valid UTF-8.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "api/html.h"
#include "api/templates.h"
#include "core/embedded.h"
#include "fuzz_check.h"

namespace {

constexpr std::string_view kCanary = "<fz";

struct Names {
  std::set<std::string> sections, variables, raw;
};

// The tag names of every template, its partials' included.
class TemplateNames {
 public:
  TemplateNames() {
    for (const auto& file : adam::embedded::templates) sources_.emplace(std::string(file.name), file.data);
    for (const auto& [name, _] : sources_) {
      Names names;
      std::set<std::string> seen;
      collect(name, names, seen);
      for (const std::string& r : names.raw) {
        names.variables.erase(r);
        names.sections.erase(r);
      }
      by_template_.emplace_back(name, std::move(names));
    }
  }
  const std::vector<std::pair<std::string, Names>>& templates() const { return by_template_; }

 private:
  void collect(const std::string& name, Names& names, std::set<std::string>& seen) {
    if (!seen.insert(name).second) return;
    static const std::regex tag(R"(\{\{(\{|&|#|\^|/|>)?\s*([A-Za-z0-9_./-]+)\s*\}?\}\})");
    const std::string text(sources_.at(name));
    for (std::sregex_iterator it(text.begin(), text.end(), tag), end; it != end; ++it) {
      const std::string sigil = (*it)[1].str(), id = (*it)[2].str();
      if (sigil == ">") {
        if (sources_.count(id)) collect(id, names, seen);
        continue;
      }
      if (sigil == "/") continue;
      // "machine.name": a section "machine" holding the variable "name".
      const size_t dot = id.rfind('.');
      if (dot != std::string::npos && id != ".") {
        names.sections.insert(id.substr(0, id.find('.')));
      }
      const std::string leaf = dot == std::string::npos || id == "." ? id : id.substr(dot + 1);
      if (leaf == ".") continue;
      if (sigil == "{" || sigil == "&")
        names.raw.insert(leaf);
      else if (sigil == "#" || sigil == "^")
        names.sections.insert(leaf);
      else
        names.variables.insert(leaf);
    }
  }

  std::map<std::string, std::string_view> sources_;
  std::vector<std::pair<std::string, Names>> by_template_;
};

nlohmann::json fuzzed_string(FuzzedDataProvider& in) {
  return in.ConsumeRandomLengthString(24) + std::string(kCanary) + "\"'&>" + in.ConsumeRandomLengthString(8);
}

nlohmann::json fuzzed_scalar(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 5)) {
    case 0:
      return in.ConsumeIntegral<int64_t>();
    case 1:
      return in.ConsumeBool();
    case 2:
      return nullptr;
    default:
      return fuzzed_string(in);
  }
}

nlohmann::json fuzzed_object(FuzzedDataProvider& in, const Names& names, int depth);

nlohmann::json fuzzed_section(FuzzedDataProvider& in, const Names& names, int depth) {
  if (depth >= 3) return in.ConsumeBool();
  switch (in.ConsumeIntegralInRange(0, 4)) {
    case 0:
      return in.ConsumeBool();
    case 1:
      return fuzzed_object(in, names, depth + 1);
    case 2:
      return fuzzed_string(in);
    default: {
      nlohmann::json list = nlohmann::json::array();
      const int n = in.ConsumeIntegralInRange(0, 3);
      for (int i = 0; i < n; ++i)
        list.push_back(in.ConsumeBool() ? fuzzed_object(in, names, depth + 1) : fuzzed_scalar(in));
      return list;
    }
  }
}

nlohmann::json fuzzed_object(FuzzedDataProvider& in, const Names& names, int depth) {
  nlohmann::json object = nlohmann::json::object();
  for (const std::string& name : names.sections) {
    if (in.ConsumeBool()) object[name] = fuzzed_section(in, names, depth);
  }
  for (const std::string& name : names.variables) {
    if (in.ConsumeBool() || depth == 0) object[name] = fuzzed_scalar(in);
  }
  return object;
}

void check_output(const std::string& where, const std::string& html) {
  FUZZ_CHECK(html.find(kCanary) == std::string::npos, where + " wrote a value's '<' raw:\n" + html);
  try {
    (void)nlohmann::json(html).dump();
  } catch (const nlohmann::json::type_error& e) {
    FUZZ_CHECK(false, where + " wrote invalid UTF-8: " + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  static const TemplateNames all;
  FuzzedDataProvider in(bytes, size);
  const auto& [name, names] =
      all.templates()[in.ConsumeIntegralInRange<size_t>(0, all.templates().size() - 1)];
  const nlohmann::json data = fuzzed_object(in, names, 0);
  check_output("template " + name, adam::templates::render(name, data));
  check_output("json_block", adam::html::json_block(data));
  const nlohmann::json message = fuzzed_string(in), field = fuzzed_string(in);
  check_output("error", adam::html::error(in.ConsumeIntegralInRange(400, 599), message.get<std::string>(),
                                          field.get<std::string>()));
  return 0;
}
