#include "support/prometheus.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace adam::test {

namespace {

bool name_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// The family a sample belongs to: histograms and summaries add suffixes.
std::string family_of(const std::string& sample, const std::map<std::string, std::string>& types) {
  if (types.count(sample)) return sample;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
      const std::string base = sample.substr(0, sample.size() - s.size());
      if (types.count(base)) return base;
    }
  }
  return {};
}

Sample parse_sample(const std::string& line, const std::string& where) {
  Sample s;
  size_t i = 0;
  while (i < line.size() && name_char(line[i], i == 0)) ++i;
  if (i == 0) throw std::runtime_error(where + ": no metric name");
  s.name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t start = i;
      while (i < line.size() && name_char(line[i], i == start)) ++i;
      const std::string label = line.substr(start, i - start);
      if (label.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
        throw std::runtime_error(where + ": bad label");
      i += 2;
      std::string value;
      for (; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] != '\\') {
          value.push_back(line[i]);
          continue;
        }
        if (++i >= line.size()) throw std::runtime_error(where + ": escape at end of line");
        if (line[i] == 'n')
          value.push_back('\n');
        else if (line[i] == '\\' || line[i] == '"')
          value.push_back(line[i]);
        else
          throw std::runtime_error(where + ": unknown escape \\" + std::string(1, line[i]));
      }
      if (i >= line.size()) throw std::runtime_error(where + ": unterminated label value");
      ++i;  // closing quote
      if (!s.labels.emplace(label, value).second)
        throw std::runtime_error(where + ": label " + label + " twice");
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) throw std::runtime_error(where + ": unterminated label set");
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') throw std::runtime_error(where + ": no value");
  const std::string value = line.substr(i + 1);
  if (value == "+Inf") {
    s.value = INFINITY;
  } else if (value == "-Inf") {
    s.value = -INFINITY;
  } else if (value == "NaN") {
    s.value = NAN;
  } else {
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') throw std::runtime_error(where + ": value is not a number: " + value);
  }
  return s;
}

}  // namespace

Exposition parse_exposition(const std::string& text) {
  Exposition e;
  std::set<std::string> seen;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string where = "line " + std::to_string(n) + " '" + line + "'";
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0 || line.rfind("# HELP ", 0) == 0) {
      const std::string rest = line.substr(7);
      const size_t space = rest.find(' ');
      if (space == std::string::npos) throw std::runtime_error(where + ": no text after the name");
      auto& into = line[2] == 'T' ? e.types : e.help;
      if (!into.emplace(rest.substr(0, space), rest.substr(space + 1)).second)
        throw std::runtime_error(where + ": declared twice");
      continue;
    }
    if (line[0] == '#') continue;
    Sample s = parse_sample(line, where);
    if (family_of(s.name, e.types).empty()) throw std::runtime_error(where + ": sample of no declared TYPE");
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "\x1f" + k + "=" + v;
    if (!seen.insert(key).second) throw std::runtime_error(where + ": series twice");
    e.samples.push_back(std::move(s));
  }
  return e;
}

std::vector<Sample> Exposition::series(const std::string& name) const {
  std::vector<Sample> out;
  for (const Sample& s : samples)
    if (s.name == name) out.push_back(s);
  return out;
}

std::optional<double> Exposition::value(const std::string& name,
                                        const std::map<std::string, std::string>& labels) const {
  std::optional<double> found;
  for (const Sample& s : series(name)) {
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (!match) continue;
    if (found) throw std::runtime_error("several series of " + name + " match");
    found = s.value;
  }
  return found;
}

}  // namespace adam::test
