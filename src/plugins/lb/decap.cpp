#include "plugins/lb/decap.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <vector>

#include "core/bpf_maps.h"
#include "core/bpf_pins.h"
#include "core/errors.h"
#include "core/tcx_ingress.h"
#include "core/undo.h"
#include "lb_decap.skel.h"

namespace adam::lb {
namespace {

using DecapSkeleton = SkeletonPtr<lb_decap_bpf, lb_decap_bpf__destroy>;

DecapSkeleton open_skeleton() {
  DecapSkeleton skel(lb_decap_bpf__open());
  if (!skel) throw std::runtime_error("lb decap: cannot open its BPF object: " + libbpf_error(-errno));
  return skel;
}

std::string links_dir(const std::string& pin_dir) { return pin_dir + "/decap"; }

struct AddrLess {
  bool operator()(const adam_lb_decap_addr& a, const adam_lb_decap_addr& b) const {
    return std::memcmp(&a, &b, sizeof a) < 0;
  }
};
using Addresses = std::map<adam_lb_decap_addr, uint32_t, AddrLess>;

// The IPv4 and IPv6 addresses of `ifindexes` (name -> ifindex), each with
// the ifindex that has it.
Addresses addresses_of(const std::map<std::string, uint32_t>& ifindexes) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    throw std::runtime_error(std::string("lb decap: getifaddrs: ") + strerror(errno));
  Addresses out;
  for (const ifaddrs* a = list; a; a = a->ifa_next) {
    auto it = a->ifa_name ? ifindexes.find(a->ifa_name) : ifindexes.end();
    if (it == ifindexes.end() || !a->ifa_addr) continue;
    adam_lb_decap_addr key{};
    if (a->ifa_addr->sa_family == AF_INET) {
      key.family = 4;
      std::memcpy(key.addr, &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      key.family = 6;
      std::memcpy(key.addr, &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    out[key] = it->second;
  }
  freeifaddrs(list);
  return out;
}

}  // namespace

struct Decap::Impl {
  DecapSkeleton skel;
  BpfMapAccess maps;
  std::unique_ptr<TcxIngress> links;
};

Decap::Decap(const std::string& pin_dir) : impl_(std::make_unique<Impl>()) {
  if (pin_dir.empty()) throw std::runtime_error("lb decap: its links need a pin dir");
  impl_->skel = open_skeleton();
  lb_decap_bpf& s = *impl_->skel;
  const std::vector<std::string> created = adopt_or_replace_map_pins(s.obj, pin_dir, {}, "lb decap");
  if (int err = lb_decap_bpf__load(&s); err)
    throw std::runtime_error("lb decap: cannot load its program: " + libbpf_error(err));
  UndoStack undo;
  undo.push("the lb decap's new map pins", [created] { remove_pins(created); });
  impl_->links = std::make_unique<TcxIngress>(links_dir(pin_dir));
  // The adopted links run the previous adamd's program: this one takes over.
  const std::set<std::string> adopted = impl_->links->interfaces();
  if (!adopted.empty()) {
    std::map<std::string, uint32_t> ifaces;
    for (const std::string& name : adopted) ifaces[name] = if_nametoindex(name.c_str());
    std::erase_if(ifaces, [](const auto& entry) { return entry.second == 0; });
    impl_->links->attach(ifaces, prog_fd());
  }
  undo.dismiss();
}

Decap::~Decap() = default;

int Decap::prog_fd() const { return bpf_program__fd(impl_->skel->progs.adam_lb_decap); }

void Decap::set_interfaces(const std::set<std::string>& ifnames, const std::string& field) {
  std::map<std::string, uint32_t> ifindexes;
  size_t position = 0;
  for (const std::string& name : ifnames) {
    const uint32_t ifindex = if_nametoindex(name.c_str());
    if (ifindex == 0)
      throw bad_request(field + "[" + std::to_string(position) + "]", "no interface '" + name + "'");
    ifindexes[name] = ifindex;
    ++position;
  }
  // The addresses first: a link attached before them would pass our own packets by.
  const Addresses wanted = addresses_of(ifindexes);
  const int fd = bpf_map__fd(impl_->skel->maps.lb_decap_addrs);
  std::vector<adam_lb_decap_addr> stale;
  adam_lb_decap_addr key{}, next{};
  for (bool first = true; impl_->maps.next_key(fd, first ? nullptr : &key, &next); first = false) {
    if (!wanted.count(next)) stale.push_back(next);
    key = next;
  }
  for (const auto& k : stale) impl_->maps.remove(fd, &k);
  for (const auto& [k, ifindex] : wanted) impl_->maps.update(fd, &k, &ifindex);
  impl_->links->attach(ifindexes, prog_fd());
  impl_->links->keep_only(ifnames);
}

std::set<std::string> Decap::interfaces() const { return impl_->links->interfaces(); }

std::array<uint64_t, ADAM_LB_DECAP_TOTALS> Decap::totals() const {
  const auto sums = sum_per_cpu_array<uint64_t>(impl_->maps, bpf_map__fd(impl_->skel->maps.lb_decap_totals),
                                                ADAM_LB_DECAP_TOTALS);
  std::array<uint64_t, ADAM_LB_DECAP_TOTALS> out{};
  std::copy(sums.begin(), sums.end(), out.begin());
  return out;
}

void remove_decap_pins(const std::string& pin_dir) {
  TcxIngress(links_dir(pin_dir)).detach_all();
  std::error_code ec;
  std::filesystem::remove(links_dir(pin_dir), ec);
  const DecapSkeleton layout = open_skeleton();
  std::vector<std::string> pins;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, layout->obj) pins.push_back(map_pin_path(pin_dir, map));
  remove_pins(pins);
}

}  // namespace adam::lb
