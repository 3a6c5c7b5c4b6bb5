// The reference of what a policy matches (docs/lsm.md "Policies"): plain
// loops over the policies, no tables. The BPF tables and the fanotify back
// end are checked against it.
#include <algorithm>
#include <cstring>

#include "plugins/lsm/policy.h"

namespace adam::lsm {

bool path_matches(std::string_view pattern, std::string_view path) {
  if (!pattern.empty() && pattern.back() == '/') return path.starts_with(pattern);
  return path == pattern;
}

bool cidr_contains(const Cidr& net, const Cidr& address) {
  if (net.family != address.family) return false;
  const size_t full_bytes = net.prefix_len / 8;
  if (std::memcmp(net.addr.data(), address.addr.data(), full_bytes) != 0) return false;
  const unsigned rest_bits = net.prefix_len % 8;
  if (rest_bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest_bits));
  return (net.addr[full_bytes] & mask) == (address.addr[full_bytes] & mask);
}

namespace {

// An empty list matches everything; else one of its entries must.
template <typename List, typename Matches>
bool any_or_empty(const List& list, Matches&& matches) {
  return list.empty() || std::any_of(list.begin(), list.end(), matches);
}

bool scope_matches(const Policy& p, const Request& req) {
  return any_or_empty(p.scope.uid, [&](uint32_t uid) { return uid == req.uid; }) &&
         any_or_empty(p.scope.comm, [&](const std::string& comm) { return comm == req.comm; }) &&
         any_or_empty(p.resolved.cgroup_ids,
                      [&](uint64_t id) {
                        return std::find(req.cgroup_ids.begin(), req.cgroup_ids.end(), id) !=
                               req.cgroup_ids.end();
                      }) &&
         any_or_empty(p.resolved.parent,
                      [&](const std::string& binary) { return path_matches(binary, req.parent); });
}

bool operation_matches(const Policy& p, const Request& req) {
  switch (p.kind) {
    case Kind::exec:
      return std::any_of(p.resolved.path.begin(), p.resolved.path.end(),
                         [&](const std::string& path) { return path_matches(path, req.path); });
    case Kind::file:
      return (p.match.access & req.access) != 0 &&
             std::any_of(p.resolved.path.begin(), p.resolved.path.end(),
                         [&](const std::string& path) { return path_matches(path, req.path); });
    case Kind::connect:
    case Kind::bind:
      return (req.udp ? p.match.udp : p.match.tcp) &&
             any_or_empty(p.match.addr, [&](const Cidr& net) { return cidr_contains(net, req.addr); }) &&
             any_or_empty(p.match.port, [&](const PortRange& range) {
               return req.port >= range.lo && req.port <= range.hi;
             });
  }
  return false;
}

}  // namespace

const Policy* first_match(const std::vector<Policy>& policies, const Request& req) {
  const Policy* first = nullptr;
  for (const Policy& p : policies) {
    if (!p.enabled || p.kind != req.kind || !scope_matches(p, req) || !operation_matches(p, req)) continue;
    if (!first || p.priority < first->priority || (p.priority == first->priority && p.id < first->id))
      first = &p;
  }
  return first;
}

}  // namespace adam::lsm
