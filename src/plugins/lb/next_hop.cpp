#include "plugins/lb/next_hop.h"

#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "core/bpf_handle.h"

namespace adam::lb {
namespace {

int af_of(uint8_t family) { return family == 6 ? AF_INET6 : AF_INET; }
size_t length_of(uint8_t family) { return family == 6 ? 16 : 4; }
std::string resolver_of(uint8_t family) { return family == 6 ? "neighbour solicitation" : "ARP"; }

// One rtnetlink request: a fixed header of type T (rtmsg, ndmsg, ...) and
// attributes, laid out as the kernel reads them.
class Request {
 public:
  template <typename T>
  Request(uint16_t type, uint16_t flags, const T& header) {
    append(nullptr, NLMSG_HDRLEN);
    append(&header, sizeof header);
    auto* nlh = reinterpret_cast<nlmsghdr*>(buffer_.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  }
  void add(uint16_t type, const void* data, size_t length) {
    rtattr attribute{static_cast<unsigned short>(RTA_LENGTH(length)), type};
    append(&attribute, sizeof attribute);
    append(data, length);
  }
  nlmsghdr* header() {
    auto* nlh = reinterpret_cast<nlmsghdr*>(buffer_.data());
    nlh->nlmsg_len = static_cast<uint32_t>(buffer_.size());
    return nlh;
  }

 private:
  // Appends `length` bytes (zeros when `data` is null), padded to NLMSG_ALIGNTO.
  void append(const void* data, size_t length) {
    const size_t at = buffer_.size();
    buffer_.resize(at + NLMSG_ALIGN(length));
    if (data != nullptr) std::memcpy(buffer_.data() + at, data, length);
  }
  std::vector<char> buffer_;
};

// A reply message: its fixed header of type T and its attributes by type.
template <typename T>
struct Reply {
  uint16_t type = 0;
  T header{};
  std::vector<std::optional<std::vector<uint8_t>>> attributes;

  const std::vector<uint8_t>* get(uint16_t attribute) const {
    return attribute < attributes.size() && attributes[attribute] ? &*attributes[attribute] : nullptr;
  }
  std::optional<uint32_t> u32(uint16_t attribute) const {
    const auto* value = get(attribute);
    if (value == nullptr || value->size() < 4) return std::nullopt;
    uint32_t out;
    std::memcpy(&out, value->data(), 4);
    return out;
  }
};

template <typename T>
Reply<T> parse_reply(const nlmsghdr* nlh) {
  Reply<T> reply;
  reply.type = nlh->nlmsg_type;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(T))) return reply;
  std::memcpy(&reply.header, NLMSG_DATA(nlh), sizeof(T));
  int remaining = static_cast<int>(nlh->nlmsg_len - NLMSG_LENGTH(sizeof(T)));
  for (auto* attribute = reinterpret_cast<const rtattr*>(static_cast<const char*>(NLMSG_DATA(nlh)) +
                                                         NLMSG_ALIGN(sizeof(T)));
       RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
    const uint16_t type = attribute->rta_type & NLA_TYPE_MASK;
    if (type >= reply.attributes.size()) reply.attributes.resize(type + 1);
    const auto* data = static_cast<const uint8_t*>(RTA_DATA(attribute));
    reply.attributes[type].emplace(data, data + RTA_PAYLOAD(attribute));
  }
  return reply;
}

// A NETLINK_ROUTE socket of adamd's network namespace (the calling thread's).
class RtNetlink {
 public:
  RtNetlink() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "netlink socket");
    // Strict checking makes the kernel filter an address dump by interface
    // (4.20 and later; earlier kernels dump all, which we filter too).
    const int one = 1;
    ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
    // The kernel answers at once; the timeout only guards against a lost reply.
    const timeval timeout{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }

  // Sends `request` and returns the messages of its answer (one, or a
  // dump's); `error` is the kernel's error as a negative errno, 0 on success
  // (a request with NLM_F_ACK that answers only its acknowledgement returns
  // no message).
  template <typename T>
  std::vector<Reply<T>> exchange(Request& request, int& error) {
    nlmsghdr* nlh = request.header();
    nlh->nlmsg_seq = ++sequence_;
    error = 0;
    std::vector<Reply<T>> replies;
    if (::send(fd_.get(), nlh, nlh->nlmsg_len, 0) < 0) {
      error = -errno;
      return replies;
    }
    const bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    std::vector<char> buffer(64 * 1024);
    for (;;) {
      const ssize_t received = ::recv(fd_.get(), buffer.data(), buffer.size(), 0);
      if (received < 0) {
        if (errno == EINTR) continue;
        error = -errno;
        return replies;
      }
      const auto size = static_cast<size_t>(received);
      for (size_t at = 0; at + sizeof(nlmsghdr) <= size;) {
        const auto* message = reinterpret_cast<const nlmsghdr*>(buffer.data() + at);
        if (message->nlmsg_len < sizeof(nlmsghdr) || at + message->nlmsg_len > size) break;
        at += NLMSG_ALIGN(message->nlmsg_len);
        if (message->nlmsg_seq != sequence_) continue;
        if (message->nlmsg_type == NLMSG_DONE) return replies;
        if (message->nlmsg_type == NLMSG_ERROR) {
          error = static_cast<const nlmsgerr*>(NLMSG_DATA(message))->error;
          return replies;
        }
        replies.push_back(parse_reply<T>(message));
        if (!dump) return replies;
      }
    }
  }

 private:
  UniqueFd fd_;
  uint32_t sequence_ = 0;
};

std::string errno_text(int negative_errno) { return std::strerror(-negative_errno); }

IpAddress address_from(uint8_t family, const std::vector<uint8_t>& bytes) {
  IpAddress address;
  address.family = family;
  std::memcpy(address.bytes.data(), bytes.data(), std::min(bytes.size(), length_of(family)));
  return address;
}

struct Route {
  uint32_t ifindex = 0;
  std::optional<IpAddress> gateway;
  std::optional<IpAddress> source;
};

// The kernel's own choice of route to `to` (what `ip route get` prints), or
// why there is none.
std::optional<Route> route_to(RtNetlink& netlink, const IpAddress& to, std::string& error) {
  rtmsg header{};
  header.rtm_family = static_cast<unsigned char>(af_of(to.family));
  header.rtm_dst_len = static_cast<unsigned char>(length_of(to.family) * 8);
  Request request(RTM_GETROUTE, 0, header);
  request.add(RTA_DST, to.bytes.data(), length_of(to.family));
  int status;
  const auto replies = netlink.exchange<rtmsg>(request, status);
  // IPv4 answers a lookup that ends in an unreachable, blackhole or
  // prohibit route with that route's error, IPv6 with the route itself.
  const auto refused = [&](const std::string& why) {
    error = "no route to " + to.to_string() + why;
    return std::nullopt;
  };
  if (status == -ENETUNREACH) return refused("");
  if (status == -EHOSTUNREACH) return refused(" (an unreachable route)");
  if (status == -EINVAL) return refused(" (a blackhole route)");
  if (status == -EACCES) return refused(" (a prohibit route)");
  if (status != 0 || replies.empty()) {
    error = "route lookup for " + to.to_string() + ": " + errno_text(status != 0 ? status : -EIO);
    return std::nullopt;
  }
  const auto& reply = replies.front();
  switch (reply.header.rtm_type) {
    case RTN_UNICAST:
      break;
    case RTN_LOCAL:
      error = to.to_string() + " is an address of this host";
      return std::nullopt;
    case RTN_UNREACHABLE:
      return refused(" (an unreachable route)");
    case RTN_BLACKHOLE:
      return refused(" (a blackhole route)");
    case RTN_PROHIBIT:
      return refused(" (a prohibit route)");
    default:
      return refused(" (a route of type " + std::to_string(reply.header.rtm_type) + ")");
  }
  Route route;
  route.ifindex = reply.u32(RTA_OIF).value_or(0);
  if (const auto* gateway = reply.get(RTA_GATEWAY)) {
    route.gateway = address_from(to.family, *gateway);
  } else if (const auto* via = reply.get(RTA_VIA); via != nullptr && via->size() >= sizeof(rtvia)) {
    // An IPv4 route through an IPv6 next hop (RFC 5549).
    const auto* next_hop = reinterpret_cast<const rtvia*>(via->data());
    const uint8_t family = next_hop->rtvia_family == AF_INET6 ? 6 : 4;
    route.gateway = address_from(
        family, std::vector<uint8_t>(next_hop->rtvia_addr, next_hop->rtvia_addr + length_of(family)));
  }
  if (const auto* source = reply.get(RTA_PREFSRC)) route.source = address_from(to.family, *source);
  if (route.ifindex == 0) {
    error = "the route to " + to.to_string() + " names no interface";
    return std::nullopt;
  }
  return route;
}

// The interface's name, MAC and MTU into `hop`; false with `error` when it
// cannot be read or is not an Ethernet device (XDP rewrites Ethernet headers).
bool read_interface(RtNetlink& netlink, NextHop& hop, std::string& error) {
  ifinfomsg header{};
  header.ifi_family = AF_UNSPEC;
  header.ifi_index = static_cast<int>(hop.ifindex);
  Request request(RTM_GETLINK, 0, header);
  int status;
  const auto replies = netlink.exchange<ifinfomsg>(request, status);
  if (status != 0 || replies.empty()) {
    error = "interface " + std::to_string(hop.ifindex) + ": " + errno_text(status != 0 ? status : -EIO);
    return false;
  }
  const auto& link = replies.front();
  if (const auto* name = link.get(IFLA_IFNAME))  // NUL-terminated
    hop.interface.assign(reinterpret_cast<const char*>(name->data()),
                         strnlen(reinterpret_cast<const char*>(name->data()), name->size()));
  hop.mtu = link.u32(IFLA_MTU).value_or(0);
  const auto* mac = link.get(IFLA_ADDRESS);
  if (link.header.ifi_type != ARPHRD_ETHER || mac == nullptr || mac->size() != hop.src_mac.size()) {
    error = "interface " + hop.interface + " is not an Ethernet device";
    return false;
  }
  std::memcpy(hop.src_mac.data(), mac->data(), hop.src_mac.size());
  return true;
}

// The first global address of `family` on the interface: the source when the
// route names none (the kernel found no address it would send from, as while
// the interface's IPv6 addresses are still tentative).
std::optional<IpAddress> interface_address(RtNetlink& netlink, uint32_t ifindex, uint8_t family) {
  ifaddrmsg header{};
  header.ifa_family = static_cast<unsigned char>(af_of(family));
  header.ifa_index = ifindex;
  Request request(RTM_GETADDR, NLM_F_DUMP, header);
  int status;
  for (const auto& address : netlink.exchange<ifaddrmsg>(request, status)) {
    if (address.header.ifa_index != ifindex || address.header.ifa_scope != RT_SCOPE_UNIVERSE) continue;
    if (const auto* local = address.get(IFA_LOCAL) ? address.get(IFA_LOCAL) : address.get(IFA_ADDRESS))
      return address_from(family, *local);
  }
  return std::nullopt;
}

// The states the kernel sends to without resolving first (its NUD_VALID).
constexpr uint16_t kValidStates =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

enum class Neighbour { valid, pending, failed, unreadable };

// The neighbour entry of `next_hop` on the interface: its MAC when valid
// (kValidStates); pending when missing or still being resolved.
Neighbour read_neighbour(RtNetlink& netlink, const IpAddress& next_hop, uint32_t ifindex,
                         std::array<uint8_t, 6>& mac, std::string& error) {
  ndmsg header{};
  header.ndm_family = static_cast<unsigned char>(af_of(next_hop.family));
  header.ndm_ifindex = static_cast<int>(ifindex);
  Request request(RTM_GETNEIGH, 0, header);
  request.add(NDA_DST, next_hop.bytes.data(), length_of(next_hop.family));
  int status;
  const auto replies = netlink.exchange<ndmsg>(request, status);
  if (status == -ENOENT) return Neighbour::pending;
  if (status != 0 || replies.empty()) {
    error = "neighbour lookup for " + next_hop.to_string() + ": " + errno_text(status != 0 ? status : -EIO);
    return Neighbour::unreadable;
  }
  const auto& entry = replies.front();
  if (entry.header.ndm_state & NUD_FAILED) return Neighbour::failed;
  const auto* lladdr = entry.get(NDA_LLADDR);
  if (!(entry.header.ndm_state & kValidStates) || lladdr == nullptr || lladdr->size() != mac.size())
    return Neighbour::pending;
  std::memcpy(mac.data(), lladdr->data(), mac.size());
  return Neighbour::valid;
}

// Asks the kernel to resolve `next_hop` (an ARP request or a neighbour
// solicitation): RTM_NEWNEIGH with NTF_USE is neigh_event_send(), the
// kernel's own "a packet waits for this neighbour". NLM_F_CREATE makes the
// entry (NUD_NONE) when there is none: without it NTF_USE on a missing entry
// is ENOENT. A failed entry starts over.
int request_resolution(RtNetlink& netlink, const IpAddress& next_hop, uint32_t ifindex) {
  ndmsg header{};
  header.ndm_family = static_cast<unsigned char>(af_of(next_hop.family));
  header.ndm_ifindex = static_cast<int>(ifindex);
  header.ndm_state = NUD_NONE;
  header.ndm_flags = NTF_USE;
  Request request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_ACK, header);
  request.add(NDA_DST, next_hop.bytes.data(), length_of(next_hop.family));
  int status;
  netlink.exchange<ndmsg>(request, status);
  return status;
}

}  // namespace

NextHop resolve_next_hop(const IpAddress& backend, bool on_link) {
  NextHop hop;
  try {
    RtNetlink netlink;
    const auto route = route_to(netlink, backend, hop.error);
    if (!route) return hop;
    if (on_link && route->gateway) {
      hop.error = "not on a directly connected segment: via " + route->gateway->to_string();
      return hop;
    }
    hop.ifindex = route->ifindex;
    if (!read_interface(netlink, hop, hop.error)) return hop;
    if (route->source)
      hop.source = *route->source;
    else if (const auto address = interface_address(netlink, hop.ifindex, backend.family))
      hop.source = *address;
    else
      hop.source.family = backend.family;  // none to send from: the zero address

    const IpAddress next_hop = route->gateway.value_or(backend);
    const Neighbour neighbour = read_neighbour(netlink, next_hop, hop.ifindex, hop.dst_mac, hop.error);
    if (neighbour == Neighbour::valid) {
      hop.resolved = true;
      return hop;
    }
    if (neighbour == Neighbour::unreadable) return hop;
    const int status = request_resolution(netlink, next_hop, hop.ifindex);
    const std::string what = next_hop.to_string() + " on " + hop.interface;
    if (status != 0)
      hop.error = "cannot resolve " + what + ": " + errno_text(status);
    else if (neighbour == Neighbour::failed)
      hop.error = "no " + resolver_of(next_hop.family) + " answer from " + what + " (asking again)";
    else
      hop.error = "resolving " + what + " (" + resolver_of(next_hop.family) + ")";
  } catch (const std::system_error& e) {
    hop.error = e.what();
  }
  return hop;
}

}  // namespace adam::lb
