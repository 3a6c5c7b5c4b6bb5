#pragma once
// Reads a Prometheus text exposition (format 0.0.4) as a scraper would, so
// tests check series by name and labels instead of grepping lines. Malformed
// text (a sample of no declared family, a bad label, a value that is not a
// number, a series twice) fails parsing with the line.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace adam::test {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  std::map<std::string, std::string> help;
  std::vector<Sample> samples;

  // The value of the one series `name` whose labels include `labels`;
  // nothing when no series matches; throws when several do.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const;
  // Every series of `name`.
  std::vector<Sample> series(const std::string& name) const;
};

// Throws std::runtime_error naming the line on malformed text.
Exposition parse_exposition(const std::string& text);

}  // namespace adam::test
