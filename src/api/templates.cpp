// The one translation unit that includes the mustache engine.
#include "api/templates.h"

#include <algorithm>
#include <kainjow/mustache.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

#include "core/embedded.h"

namespace adam::templates {
namespace {

namespace mustache = kainjow::mustache;
using nlohmann::json;

// Length of the UTF-8 sequence at text[i], 0 when it is not a valid one
// (bad lead or continuation byte, overlong form, surrogate, above U+10FFFF).
size_t utf8_sequence_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // allowed range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (i + length > text.size() || byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  return length;
}

// Strings reach the page as UTF-8 (the pages say so): a rule name stored by
// an older adamd or a plugin's string may hold other bytes.
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
    } else {
      out.append(text, i, length);
      i += length;
    }
  }
  return out;
}

// kainjow's set() and push_back() copy the value with everything under it;
// a placeholder goes in instead and the converted value is moved over it
// (the engine hands its own values out as const only).
mustache::data& moved_in(const mustache::data* placeholder, mustache::data&& value) {
  return *const_cast<mustache::data*>(placeholder) = std::move(value);
}

mustache::data to_data(const json& j) {
  switch (j.type()) {
    case json::value_t::object: {
      mustache::data object{mustache::data::type::object};
      for (const auto& [key, value] : j.items()) {
        object.set(key, mustache::data(false));
        moved_in(object.get(key), to_data(value));
      }
      return object;
    }
    case json::value_t::array: {
      mustache::data list{mustache::data::type::list};
      for (const auto& item : j) {
        list.push_back(mustache::data(false));
        moved_in(&list.list_value().back(), to_data(item));
      }
      return list;
    }
    case json::value_t::string:
      return mustache::data(valid_utf8(j.get_ref<const std::string&>()));
    case json::value_t::boolean:
      return mustache::data(j.get<bool>());
    case json::value_t::null:
    case json::value_t::discarded:
      // Falsy, and it hides a same-named value of an enclosing section.
      return mustache::data(false);
    default:
      return mustache::data(j.dump());  // numbers
  }
}

// Partials are included when the templates are loaded, so each template is
// parsed once (the engine would parse a partial again at every use). Tags
// keep the default {{ }} delimiters for this.
const std::regex kPartialTag(R"(\{\{>\s*([A-Za-z0-9_./-]+)\s*\}\})");

class Registry {
 public:
  Registry() {
    for (const auto& file : embedded::templates) sources_.emplace(std::string(file.name), file.data);
    for (const auto& [name, source] : sources_) {
      std::vector<std::string> including;
      mustache::mustache parsed(expand(name, including));
      if (!parsed.is_valid()) throw std::runtime_error("template '" + name + "': " + parsed.error_message());
      parsed_.emplace(name, std::move(parsed));
    }
  }

  // Rendering writes nothing into a parsed template unless a partial or a
  // lambda fails, and neither is left at this point: the threads of the API
  // share the templates.
  std::string render(std::string_view name, const json& data) {
    auto it = parsed_.find(name);
    if (it == parsed_.end()) throw std::invalid_argument("no template named '" + std::string(name) + "'");
    return it->second.render(to_data(data));
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : parsed_) out.push_back(name);
    return out;
  }

 private:
  // The text of template `name` with its partials included; `including` is
  // the chain of templates that led here (a loop is an error, not a hang).
  std::string expand(const std::string& name, std::vector<std::string>& including) const {
    auto source = sources_.find(name);
    const std::string from = including.empty() ? "" : " (included by '" + including.back() + "')";
    if (source == sources_.end()) throw std::runtime_error("no template named '" + name + "'" + from);
    if (std::find(including.begin(), including.end(), name) != including.end())
      throw std::runtime_error("template '" + name + "' includes itself" + from);
    including.push_back(name);
    const std::string text(source->second);
    std::string out;
    auto last = text.cbegin();
    for (std::sregex_iterator tag(text.begin(), text.end(), kPartialTag), end; tag != end; ++tag) {
      out.append(last, text.cbegin() + tag->position());
      std::string partial = expand((*tag)[1].str(), including);
      if (!partial.empty() && partial.back() == '\n') partial.pop_back();  // the tag's line ends it
      out += partial;
      last = text.cbegin() + tag->position() + tag->length();
    }
    out.append(last, text.cend());
    including.pop_back();
    return out;
  }

  std::map<std::string, std::string_view, std::less<>> sources_;
  std::map<std::string, mustache::mustache, std::less<>> parsed_;
};

Registry& registry() {
  static Registry templates;
  return templates;
}

}  // namespace

std::string render(std::string_view name, const json& data) { return registry().render(name, data); }

void load() { registry(); }

std::vector<std::string> names() { return registry().names(); }

}  // namespace adam::templates
