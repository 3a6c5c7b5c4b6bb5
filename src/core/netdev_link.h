#pragma once
// Pinned bpf_links on network interfaces: the XDP root links of XdpChain and
// the tcx links of TcxIngress are made, pinned and re-adopted the same way,
// on the general helpers of core/pinned_link.h. A link pinned as
// <dir>/<prefix><ifname> outlives adamd; the next adamd finds it by its pin
// and keys it by its interface's current name.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/pinned_link.h"

namespace adam {

// The ifindex a network-device link is attached to (XDP or tcx: both keep it
// in the first word of bpf_link_info's union), 0 once the interface is gone;
// nullopt when `link_fd`'s info cannot be read or it is not a link of type
// `link_type` (BPF_LINK_TYPE_*).
std::optional<uint32_t> netdev_link_ifindex(int link_fd, uint32_t link_type);

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
                                                        uint32_t link_type, const std::string& log);

}  // namespace adam
