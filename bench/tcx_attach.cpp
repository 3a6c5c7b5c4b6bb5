// Attaches bench/empty_pass.bpf.c's tc program to an interface's tc ingress
// through a tcx link, pinned at a path: bench/fw_vs_iptables.sh's empty tc
// column. Removing the pin detaches it.
// Usage: tcx_attach NETNS IFNAME PIN_PATH
// NETNS: the name of the interface's network namespace (/run/netns/NETNS).
// The tool enters it itself, not through `ip netns exec`, which would also
// give it a mount namespace without the host's bpffs to pin in.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "core/bpf_handle.h"
#include "core/netdev_link.h"
#include "core/tcx_ingress.h"
#include "empty_pass.skel.h"

int main(int argc, char** argv) {
  using namespace adam;
  if (argc != 4) {
    std::fprintf(stderr, "usage: tcx_attach NETNS IFNAME PIN_PATH\n");
    return 2;
  }
  const std::string netns = std::string("/run/netns/") + argv[1], ifname = argv[2], pin = argv[3];
  UniqueFd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns || ::setns(ns.get(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "tcx_attach: cannot enter %s: %s\n", netns.c_str(), std::strerror(errno));
    return 1;
  }
  const unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    std::fprintf(stderr, "tcx_attach: no interface named '%s'\n", ifname.c_str());
    return 1;
  }
  SkeletonPtr<empty_pass_bpf, empty_pass_bpf__destroy> skel(empty_pass_bpf__open_and_load());
  if (!skel) {
    std::fprintf(stderr, "tcx_attach: cannot load empty_pass.bpf.o: %s\n", libbpf_error(-errno).c_str());
    return 1;
  }
  UniqueFd link(bpf_link_create(bpf_program__fd(skel->progs.tc_pass), static_cast<int>(ifindex),
                                static_cast<bpf_attach_type>(kBpfTcxIngress), nullptr));
  if (!link) {
    std::fprintf(stderr, "tcx_attach: cannot link to the tc ingress of '%s': %s\n", ifname.c_str(),
                 libbpf_error(link.get()).c_str());
    return 1;
  }
  try {
    pin_new_link(std::move(link), pin, "the tcx link of '" + ifname + "'");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tcx_attach: %s\n", e.what());
    return 1;
  }
  return 0;
}
