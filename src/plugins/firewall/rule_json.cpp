#include "plugins/firewall/rule_json.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <tuple>

#include "core/errors.h"

namespace adam::fw {
namespace {

using nlohmann::json;

// Field paths in errors: "match" + "src" → "match.src", "match.src" + 1 → "match.src[1]".
// A client's value as an error message quotes it: the start of a long one
// (a megabyte value must not come back whole), invalid UTF-8 replaced.
std::string quoted(const json& v) {
  constexpr size_t kMax = 64;
  const std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= kMax ? text : text.substr(0, kMax) + "...";
}

std::string field_of(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string item_of(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// The integer value of `v` when it is a JSON integer within [lo, hi].
std::optional<int64_t> integer_in(const json& v, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (!v.is_number_integer()) return std::nullopt;
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) return std::nullopt;
  return i;
}

// A whole string of decimal digits as a number within [0, max].
std::optional<int64_t> decimal_in(std::string_view text, int64_t max) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

void require_object(const json& j, const std::string& field, const std::string& what) {
  if (!j.is_object()) throw bad_request(field.empty() ? "body" : field, what + " must be a JSON object");
}

// Unknown keys are refused (a typo must not silently widen a rule).
void require_known_keys(const json& j, const std::string& path,
                        std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw bad_request(field_of(path, key), "unknown field '" + key + "'");
  }
}

std::string parse_string(const json& v, const std::string& field, size_t min_length, size_t max_length) {
  if (!v.is_string()) throw bad_request(field, "must be a string, got " + quoted(v));
  std::string text = v.get<std::string>();
  if (text.size() < min_length || text.size() > max_length)
    throw bad_request(field, "must be " + std::to_string(min_length) + " to " + std::to_string(max_length) +
                                 " bytes long, got " + std::to_string(text.size()));
  return text;
}

bool parse_bool(const json& v, const std::string& field) {
  if (!v.is_boolean()) throw bad_request(field, "must be true or false, got " + quoted(v));
  return v.get<bool>();
}

Action parse_action(const json& v, const std::string& field) {
  if (v == "pass") return Action::pass;
  if (v == "drop") return Action::drop;
  throw bad_request(field, "must be \"pass\" or \"drop\", got " + quoted(v));
}

// An IPv4 or IPv6 address (no prefix length) into family and bytes.
bool parse_address(const std::string& text, uint8_t& family, std::array<uint8_t, 16>& addr) {
  addr.fill(0);
  family = text.find(':') == std::string::npos ? 4 : 6;
  return ::inet_pton(family == 4 ? AF_INET : AF_INET6, text.c_str(), addr.data()) == 1;
}

Prefix with_host_bits_cleared(Prefix p) {
  for (size_t bit = p.len; bit < (p.family == 4 ? 32u : 128u); ++bit)
    p.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return p;
}

// "10.0.0.0/8", "2001:db8::/32"; a bare address is a host prefix (/32, /128).
Prefix parse_prefix(const json& v, const std::string& field) {
  if (!v.is_string())
    throw bad_request(field, "must be a CIDR string like \"203.0.113.0/24\", got " + quoted(v));
  const std::string text = v.get<std::string>();
  const size_t slash = text.find('/');
  Prefix p;
  if (!parse_address(text.substr(0, slash), p.family, p.addr))
    throw bad_request(field, "\"" + text + "\" is not an IPv4 or IPv6 prefix (like \"203.0.113.0/24\")");
  const int max_len = p.family == 4 ? 32 : 128;
  if (slash == std::string::npos) {
    p.len = static_cast<uint8_t>(max_len);
    return p;
  }
  auto len = decimal_in(std::string_view(text).substr(slash + 1), max_len);
  if (!len)
    throw bad_request(field, "prefix length of \"" + text + "\" must be 0 to " + std::to_string(max_len) +
                                 " for IPv" + std::to_string(p.family));
  p.len = static_cast<uint8_t>(*len);
  // Host bits are refused rather than cleared: "10.1.2.3/8" more likely means
  // a mistyped length than the whole 10.0.0.0/8.
  const Prefix network = with_host_bits_cleared(p);
  if (network != p)
    throw bad_request(field,
                      "\"" + text + "\" has host bits set; did you mean \"" + prefix_text(network) + "\"?");
  return p;
}

// 22, "22" or "1024-65535".
PortRange parse_port_range(const json& v, const std::string& field) {
  if (v.is_number_integer()) {
    auto port = integer_in(v, 0, 65535);
    if (!port) throw bad_request(field, "port " + quoted(v) + " is outside 0-65535");
    return {static_cast<uint16_t>(*port), static_cast<uint16_t>(*port)};
  }
  if (!v.is_string())
    throw bad_request(field, "must be a port (22) or a range (\"1024-65535\"), got " + quoted(v));
  const std::string text = v.get<std::string>();
  const size_t dash = text.find('-');
  const std::string_view view(text);
  auto lo = decimal_in(view.substr(0, dash), std::numeric_limits<int64_t>::max());
  auto hi =
      dash == std::string::npos ? lo : decimal_in(view.substr(dash + 1), std::numeric_limits<int64_t>::max());
  if (!lo || !hi) throw bad_request(field, "\"" + text + "\" is not a port (22) or a range (\"1024-65535\")");
  if (*lo > 65535 || *hi > 65535) throw bad_request(field, "port range \"" + text + "\" is outside 0-65535");
  if (*lo > *hi)
    throw bad_request(field, "port range \"" + text + "\" is reversed; did you mean \"" +
                                 std::to_string(*hi) + "-" + std::to_string(*lo) + "\"?");
  return {static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

json port_range_json(const PortRange& r) {
  if (r.lo == r.hi) return r.lo;
  return std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

constexpr std::pair<std::string_view, uint8_t> kProtocolNames[] = {
    {"tcp", kProtoTcp}, {"udp", kProtoUdp}, {"icmp", kProtoIcmp}, {"icmpv6", kProtoIcmpv6}};

// "tcp" (any case), 6 or "6".
uint8_t parse_proto(const json& v, const std::string& field) {
  if (v.is_number_integer()) {
    auto number = integer_in(v, 0, 255);
    if (!number) throw bad_request(field, "protocol " + quoted(v) + " is outside 0-255");
    return static_cast<uint8_t>(*number);
  }
  if (!v.is_string()) throw bad_request(field, "must be a protocol name or number, got " + quoted(v));
  const std::string text = lowercase(v.get<std::string>());
  for (const auto& [name, number] : kProtocolNames)
    if (text == name) return number;
  if (auto number = decimal_in(text, 255)) return static_cast<uint8_t>(*number);
  throw bad_request(field,
                    "unknown protocol " + quoted(v) + " (use tcp, udp, icmp, icmpv6 or a number 0-255)");
}

bool has_ports(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp; }

// Linux's rule for interface names (dev_valid_name): 1-15 bytes, not "." or
// "..", no '/', ':' or whitespace.
std::string parse_iface(const json& v, const std::string& field) {
  if (!v.is_string()) throw bad_request(field, "must be an interface name, got " + quoted(v));
  const std::string name = v.get<std::string>();
  const bool valid = !name.empty() && name.size() < 16 && name != "." && name != ".." &&
                     std::none_of(name.begin(), name.end(),
                                  [](unsigned char c) { return c == '/' || c == ':' || std::isspace(c); });
  if (!valid) throw bad_request(field, quoted(v) + " is not a valid interface name");
  return name;
}

// A match field: a JSON array whose items `parse` turns into values.
template <typename T, typename Parse>
std::vector<T> parse_list(const json& v, const std::string& field, Parse parse, const char* example) {
  if (!v.is_array()) throw bad_request(field, "must be an array, e.g. " + std::string(example));
  std::vector<T> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) out.push_back(parse(v[i], item_of(field, i)));
  return out;
}

// Bit 0: has IPv4 prefixes, bit 1: has IPv6 prefixes.
unsigned families_of(const std::vector<Prefix>& prefixes) {
  unsigned mask = 0;
  for (const auto& p : prefixes) mask |= p.family == 4 ? 1u : 2u;
  return mask;
}

Match parse_match(const json& j, const std::string& path) {
  require_object(j, path, "match");
  require_known_keys(j, path, {"src", "dst", "proto", "src_port", "dst_port", "iface"});
  Match m;
  auto field = [&](const char* key) { return field_of(path, key); };
  if (j.contains("src"))
    m.src = parse_list<Prefix>(j["src"], field("src"), parse_prefix, "[\"203.0.113.0/24\"]");
  if (j.contains("dst"))
    m.dst = parse_list<Prefix>(j["dst"], field("dst"), parse_prefix, "[\"198.51.100.7/32\"]");
  if (j.contains("proto"))
    m.proto = parse_list<uint8_t>(j["proto"], field("proto"), parse_proto, "[\"tcp\"]");
  if (j.contains("src_port"))
    m.src_port =
        parse_list<PortRange>(j["src_port"], field("src_port"), parse_port_range, "[\"1024-65535\"]");
  if (j.contains("dst_port"))
    m.dst_port =
        parse_list<PortRange>(j["dst_port"], field("dst_port"), parse_port_range, "[22, \"8000-8080\"]");
  if (j.contains("iface"))
    m.iface = parse_list<std::string>(j["iface"], field("iface"), parse_iface, "[\"eth0\"]");

  if (!m.src.empty() && !m.dst.empty() && (families_of(m.src) & families_of(m.dst)) == 0)
    throw bad_request(field("dst"), std::string("has only IPv") + (families_of(m.dst) == 1 ? "4" : "6") +
                                        " prefixes and match.src only IPv" +
                                        (families_of(m.src) == 1 ? "4" : "6") +
                                        " ones: the rule could never match");
  if (!m.src_port.empty() || !m.dst_port.empty()) {
    auto portless = std::find_if(m.proto.begin(), m.proto.end(), [](uint8_t p) { return !has_ports(p); });
    if (portless != m.proto.end())
      throw bad_request(
          field(m.dst_port.empty() ? "src_port" : "dst_port"),
          "ports apply to tcp and udp only, but match.proto has " + proto_json(*portless).dump());
  }
  return m;
}

json match_json(const Match& m) {
  json j = json::object();
  auto put = [&](const char* key, const auto& values, auto to_json) {
    if (values.empty()) return;
    json list = json::array();
    for (const auto& value : values) list.push_back(to_json(value));
    j[key] = std::move(list);
  };
  put("src", m.src, prefix_text);
  put("dst", m.dst, prefix_text);
  put("proto", m.proto, proto_json);
  put("src_port", m.src_port, port_range_json);
  put("dst_port", m.dst_port, port_range_json);
  put("iface", m.iface, [](const std::string& name) { return name; });
  return j;
}

uint32_t parse_rule_id(const json& v, const std::string& field) {
  auto id = integer_in(v, 1, std::numeric_limits<uint32_t>::max());
  if (!id) throw bad_request(field, "must be a rule id (a positive integer), got " + quoted(v));
  return static_cast<uint32_t>(*id);
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// ClassBench "LO : HI" as a rule port value; nullopt for "0 : 65535" (any).
std::optional<json> classbench_ports(std::string_view text, const char* what) {
  const size_t colon = text.find(':');
  auto lo = colon == std::string_view::npos ? std::nullopt : decimal_in(trim(text.substr(0, colon)), 65535);
  auto hi = colon == std::string_view::npos ? std::nullopt : decimal_in(trim(text.substr(colon + 1)), 65535);
  if (!lo || !hi)
    throw bad_request("", std::string(what) + " \"" + std::string(text) + "\" is not \"LO : HI\" in 0-65535");
  if (*lo == 0 && *hi == 65535) return std::nullopt;
  if (*lo == *hi) return json(*lo);
  return json(std::to_string(*lo) + "-" + std::to_string(*hi));  // rule_from_json refuses a reversed one
}

// ClassBench "0x06/0xFF" (exactly this protocol) or "0x00/0x00" (any): the
// protocol number, nullopt for any.
std::optional<uint8_t> classbench_proto(std::string_view text) {
  auto hex = [](std::string_view part) -> std::optional<unsigned> {
    part = trim(part);
    if (part.size() < 3 || part[0] != '0' || (part[1] != 'x' && part[1] != 'X')) return std::nullopt;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(part.data() + 2, part.data() + part.size(), value, 16);
    if (ec != std::errc() || end != part.data() + part.size() || value > 255) return std::nullopt;
    return value;
  };
  const size_t slash = text.find('/');
  auto value = hex(text.substr(0, slash));
  auto mask = slash == std::string_view::npos ? std::nullopt : hex(text.substr(slash + 1));
  if (!value || !mask || (*mask != 0 && *mask != 0xff))
    throw bad_request(
        "", "protocol \"" + std::string(text) + "\" must be 0xNN/0xFF (this protocol) or 0x00/0x00 (any)");
  if (*mask == 0) return std::nullopt;
  return static_cast<uint8_t>(*value);
}

// One ClassBench filter line as rule JSON (validated by rule_from_json after).
json classbench_rule_json(std::string_view line, size_t line_number) {
  if (line.front() != '@') throw bad_request("", "a filter line starts with '@'");
  std::vector<std::string_view> columns;
  for (std::string_view rest = line.substr(1); !rest.empty();) {
    const size_t tab = rest.find('\t');
    columns.push_back(trim(rest.substr(0, tab)));
    rest = tab == std::string_view::npos ? std::string_view() : rest.substr(tab + 1);
  }
  while (!columns.empty() && columns.back().empty()) columns.pop_back();
  if (columns.size() < 5 || columns.size() > 6)
    throw bad_request(
        "", "expected 6 tab-separated columns (src, dst, src ports, dst ports, proto, flags), got " +
                std::to_string(columns.size()));

  json match = json::object();
  for (auto [key, column] : {std::pair{"src", columns[0]}, std::pair{"dst", columns[1]}}) {
    // An IPv4 /0 is "any": left out like every match-anything field, however
    // it is spelled (classbench_fuzz found "0.0.0.0/00" kept as a condition,
    // which an IPv6 packet does not meet).
    const std::string text(column);
    const Prefix prefix = parse_prefix(json(text), std::string("match.") + key + "[0]");
    if (prefix.family != 4 || prefix.len != 0) match[key] = json::array({text});
  }
  bool ports = false;
  for (auto [key, column] : {std::pair{"src_port", columns[2]}, std::pair{"dst_port", columns[3]}}) {
    if (auto value = classbench_ports(column, key)) {
      match[key] = json::array({*value});
      ports = true;
    }
  }
  if (auto proto = classbench_proto(columns[4]))
    match["proto"] = json::array({*proto});
  else if (ports)
    match["proto"] = json::array({"tcp", "udp"});
  return {{"name", "classbench line " + std::to_string(line_number)},
          {"priority", static_cast<int64_t>(line_number) * 10},
          {"action", "drop"},
          {"match", match}};
}

}  // namespace

std::string action_name(Action action) { return action == Action::drop ? "drop" : "pass"; }

json proto_json(uint8_t proto) {
  for (const auto& [name, number] : kProtocolNames)
    if (proto == number) return std::string(name);
  return proto;
}

std::string prefix_text(const Prefix& prefix) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(prefix.family == 4 ? AF_INET : AF_INET6, prefix.addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix.len);
}

json rule_to_json(const Rule& rule) {
  return {{"name", rule.name},
          {"description", rule.description},
          {"priority", rule.priority},
          {"action", action_name(rule.action)},
          {"enabled", rule.enabled},
          {"log", rule.log},
          {"match", match_json(rule.match)}};
}

Rule rule_from_json(const json& j, const std::string& path) {
  require_object(j, path, "a rule");
  require_known_keys(
      j, path,
      {"id", "name", "description", "priority", "action", "enabled", "log", "match", "links", "counters"});
  auto field = [&](const char* key) { return field_of(path, key); };
  Rule rule;
  if (j.contains("id")) rule.id = parse_rule_id(j["id"], field("id"));
  if (!j.contains("name")) throw bad_request(field("name"), "missing field 'name' (1 to 128 bytes)");
  rule.name = parse_string(j["name"], field("name"), 1, kMaxNameLength);
  if (j.contains("description"))
    rule.description = parse_string(j["description"], field("description"), 0, kMaxDescriptionLength);
  if (j.contains("priority")) {
    auto priority =
        integer_in(j["priority"], std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
    if (!priority)
      throw bad_request(field("priority"), "must be a 32-bit signed integer, got " + quoted(j["priority"]));
    rule.priority = static_cast<int32_t>(*priority);
  }
  if (!j.contains("action"))
    throw bad_request(field("action"), "missing field 'action' (\"pass\" or \"drop\")");
  rule.action = parse_action(j["action"], field("action"));
  if (j.contains("enabled")) rule.enabled = parse_bool(j["enabled"], field("enabled"));
  if (j.contains("log")) rule.log = parse_bool(j["log"], field("log"));
  if (j.contains("match")) rule.match = parse_match(j["match"], field("match"));
  return rule;
}

std::vector<const Rule*> listing_order(const Ruleset& ruleset) {
  std::vector<const Rule*> ordered;
  for (const auto& rule : ruleset.rules) ordered.push_back(&rule);
  std::sort(ordered.begin(), ordered.end(), [](const Rule* a, const Rule* b) {
    return std::tie(a->priority, a->id) < std::tie(b->priority, b->id);
  });
  return ordered;
}

json ruleset_to_json(const Ruleset& ruleset) {
  json rules = json::array();
  for (const Rule* rule : listing_order(ruleset)) {
    json r = rule_to_json(*rule);
    r["id"] = rule->id;
    rules.push_back(std::move(r));
  }
  return {{"default", action_name(ruleset.default_action)}, {"rules", std::move(rules)}};
}

Ruleset ruleset_from_json(const json& j) {
  require_object(j, "", "a ruleset");
  require_known_keys(j, "", {"default", "rules", "links"});
  Ruleset ruleset;
  if (j.contains("default")) ruleset.default_action = parse_action(j["default"], "default");
  if (!j.contains("rules")) return ruleset;
  const json& rules = j["rules"];
  if (!rules.is_array()) throw bad_request("rules", "must be an array of rules");
  check_rule_count(rules.size());
  ruleset.rules.reserve(rules.size());
  for (size_t i = 0; i < rules.size(); ++i)
    ruleset.rules.push_back(rule_from_json(rules[i], item_of("rules", i)));
  return ruleset;
}

void check_rule_count(size_t count) {
  if (count > kMaxRules)
    throw ApiError(422, "too_many_rules",
                   std::to_string(count) + " rules; the firewall holds at most " + std::to_string(kMaxRules),
                   "rules");
}

std::string match_summary(const json& match) {
  static constexpr std::pair<const char*, const char*> kLabels[] = {
      {"iface", "iface"}, {"src", "src"},        {"dst", "dst"},
      {"proto", "proto"}, {"src_port", "sport"}, {"dst_port", "dport"}};
  std::string out;
  for (const auto& [key, label] : kLabels) {
    if (!match.contains(key) || match[key].empty()) continue;
    std::string values;
    for (const auto& v : match[key])
      values += (values.empty() ? "" : ",") + (v.is_string() ? v.get<std::string>() : v.dump());
    out += (out.empty() ? "" : " ") + std::string(label) + " " + values;
  }
  return out.empty() ? "any" : out;
}

PacketQuery packet_query_from_json(const json& j) {
  require_object(j, "", "a packet");
  require_known_keys(j, "", {"src", "dst", "proto", "src_port", "dst_port", "iface"});
  // An address into `addr`; returns its family.
  auto address = [&](const char* key, std::array<uint8_t, 16>& addr) {
    if (!j.contains(key)) throw bad_request(key, std::string("missing field '") + key + "' (an IP address)");
    uint8_t family = 0;
    if (!j[key].is_string() || !parse_address(j[key].get<std::string>(), family, addr))
      throw bad_request(key, "must be an IPv4 or IPv6 address, got " + quoted(j[key]));
    return family;
  };
  PacketQuery q;
  PacketKey& p = q.packet;
  p.family = address("src", p.src);
  if (const uint8_t family = address("dst", p.dst); family != p.family)
    throw bad_request("dst",
                      "is IPv" + std::to_string(family) + " but src is IPv" + std::to_string(p.family));
  if (!j.contains("proto"))
    throw bad_request("proto", "missing field 'proto' (tcp, udp, icmp, icmpv6 or a number)");
  p.proto = parse_proto(j["proto"], "proto");
  p.has_ports = has_ports(p.proto);
  auto port = [&](const char* key) -> uint16_t {
    if (!j.contains(key)) return 0;
    if (!p.has_ports)
      throw bad_request(key, "only tcp and udp packets have ports, proto is " + proto_json(p.proto).dump());
    auto number = integer_in(j[key], 0, 65535);
    if (!number) throw bad_request(key, "must be a port 0-65535, got " + quoted(j[key]));
    return static_cast<uint16_t>(*number);
  };
  p.src_port = port("src_port");
  p.dst_port = port("dst_port");
  if (j.contains("iface")) q.iface = parse_iface(j["iface"], "iface");
  return q;
}

std::vector<Rule> parse_classbench(std::string_view text) {
  std::vector<Rule> rules;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    if (line.empty()) continue;
    // A NUL or another control byte is refused here: past it the text
    // parsers (inet_pton of a C string) would read a shorter field than the
    // line holds, e.g. "0.0.0.0\0.../0" as an explicit 0.0.0.0/0.
    const auto control = std::find_if(line.begin(), line.end(), [](char c) {
      return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
    });
    if (control != line.end()) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(*control));
      const std::string where = "line " + std::to_string(line_number);
      throw bad_request(where, where + ": a control character (byte " + byte + ") at column " +
                                   std::to_string(control - line.begin() + 1));
    }
    try {
      rules.push_back(rule_from_json(classbench_rule_json(line, line_number)));
    } catch (const ApiError& e) {
      const std::string where = "line " + std::to_string(line_number);
      throw bad_request(where, where + ": " + (e.field().empty() ? "" : e.field() + ": ") + e.what());
    }
    check_rule_count(rules.size());
  }
  return rules;
}

std::string format_classbench(const Ruleset& ruleset) {
  std::string out;
  // Evaluation order (rule.h's evaluation_order(), which adamctl's build of
  // this file does not link).
  std::vector<const Rule*> order;
  for (const Rule& r : ruleset.rules)
    if (r.enabled) order.push_back(&r);
  std::sort(order.begin(), order.end(), [](const Rule* a, const Rule* b) {
    return a->priority != b->priority ? a->priority < b->priority : a->id < b->id;
  });
  for (size_t i = 0; i < order.size(); ++i) {
    const Rule& rule = *order[i];
    const Match& m = rule.match;
    auto refuse = [&](const std::string& why) {
      const std::string where = item_of("rules", i);
      throw ApiError(422, "not_classbench", where + " (id " + std::to_string(rule.id) + "): " + why, where);
    };
    if (rule.action != Action::drop)
      refuse("a pass rule: ClassBench filters have no action (each imports as a drop)");
    if (!m.iface.empty()) refuse("has iface: ClassBench filters have no interface");
    auto prefix = [&](const std::vector<Prefix>& values, const char* field) {
      if (values.empty()) return std::string("0.0.0.0/0");
      if (values.size() > 1 || values[0].family != 4)
        refuse(std::string(field) + ": ClassBench has one IPv4 prefix per field");
      const auto& a = values[0].addr;
      return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
             std::to_string(a[3]) + "/" + std::to_string(values[0].len);
    };
    auto ports = [&](const std::vector<PortRange>& values, const char* field) {
      if (values.size() > 1) refuse(std::string(field) + ": ClassBench has one port range per field");
      const PortRange r = values.empty() ? PortRange{} : values[0];
      return std::to_string(r.lo) + " : " + std::to_string(r.hi);
    };
    // Any protocol is 0x00/0x00; so are tcp and udp together with ports, as
    // the import reads a filter with ports and any protocol.
    const bool tcp_and_udp = m.proto == std::vector<uint8_t>{kProtoTcp, kProtoUdp} ||
                             m.proto == std::vector<uint8_t>{kProtoUdp, kProtoTcp};
    const bool any_proto = m.proto.empty() || (tcp_and_udp && (!m.src_port.empty() || !m.dst_port.empty()));
    if (!any_proto && m.proto.size() > 1) refuse("proto: ClassBench has one protocol per filter");
    char proto[16];
    std::snprintf(proto, sizeof proto, any_proto ? "0x00/0x00" : "0x%02X/0xFF", any_proto ? 0 : m.proto[0]);
    out += "@" + prefix(m.src, "src") + "\t" + prefix(m.dst, "dst") + "\t" + ports(m.src_port, "src_port") +
           "\t" + ports(m.dst_port, "dst_port") + "\t" + proto + "\t0x0000/0x0000\n";
  }
  return out;
}

}  // namespace adam::fw
