#pragma once
// Pinned bpf_links on network interfaces: the XDP root links of XdpChain and
// the tcx links of TcxIngress are made, pinned and re-adopted the same way.
// A link pinned as <dir>/<prefix><ifname> outlives adamd; the next adamd
// finds it by its pin and keys it by its interface's current name.
#include <cstdint>
#include <string>
#include <vector>

#include "core/bpf_handle.h"

namespace adam {

// Pins a link just created (its one fd: `link_fd`) at `path`, replacing a
// stale pin there, and opens the pin as a bpf_link: the link then outlives
// this process, and libbpf knows its pin path (bpf_link__unpin). `what`
// names the link in errors. On failure `link_fd` closes, which detaches the
// link, and std::runtime_error says why.
BpfLinkPtr pin_new_link(UniqueFd link_fd, const std::string& path, const std::string& what);

// The ifindex a network-device link is attached to (XDP or tcx: both keep it
// in the first word of bpf_link_info's union), 0 once the interface is gone;
// false, with `why`, when `link_fd` is not a link of type `link_type`
// (a BPF_LINK_TYPE_* number, called `type_name` in `why`).
bool netdev_link_ifindex(int link_fd, uint32_t link_type, const std::string& type_name, uint32_t& ifindex,
                         std::string& why);

struct PinnedNetdevLink {
  std::string ifname;  // the interface's current name
  std::string path;    // the pin, renamed with the interface
  uint32_t ifindex = 0;
  BpfLinkPtr link;
};

// The links of type `link_type` pinned in `dir` as <prefix><ifname> by an
// earlier adamd. A pin whose interface is gone is removed; a pin that cannot
// be opened or is another kind of link is left alone; a renamed interface's
// pin is renamed too (unless its old name is taken again). `log` prefixes
// the log lines, e.g. "XDP chain".
std::vector<PinnedNetdevLink> adopt_pinned_netdev_links(const std::string& dir, const std::string& prefix,
                                                        uint32_t link_type, const std::string& type_name,
                                                        const std::string& log);

}  // namespace adam
