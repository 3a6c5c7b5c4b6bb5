#pragma once
// adamd owns each interface's XDP hook: one small root program, attached per
// interface, tail-calls the plugins' programs in slot order through one
// pinned BPF_MAP_TYPE_PROG_ARRAY ("the chain"). A plugin program that lets a
// packet go on tail-calls the next filled slot (bpf/adam/xdp_chain.h), so several
// XDP plugins share an interface without freplace/libxdp dispatchers.
//
// Pins (under <pin_dir>/xdp/): "chain" (the prog array) and one "root@<ifname>"
// bpf_link per interface. Both outlive adamd, so packets keep flowing through
// the plugins' programs while adamd restarts; a new XdpChain re-adopts them.
//
// Attach mode: the root program runs in the driver (native XDP) or in the
// kernel's generic, skb-based hook (generic XDP); see XdpMode. One interface
// has one mode, whichever plugin asked for it.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/bpf_handle.h"

struct xdp_root_bpf;

namespace adam {

// How the root program is attached to an interface.
//   native  — in the driver (XDP_FLAGS_DRV_MODE); refused by an interface
//             whose driver has no XDP support;
//   generic — in the kernel's skb receive path (XDP_FLAGS_SKB_MODE), any
//             interface;
//   auto    — a new attachment is generic on veth, and elsewhere the
//             kernel's choice: native when the driver supports XDP, else
//             generic. An existing attachment is kept in its mode, except
//             native on a veth, which is switched to generic. (On veth, native
//             XDP makes every packet the local stack sends through the pair
//             take veth's NAPI path and a copy into a page-pool page:
//             docs/firewall.md, "XDP attach mode".)
enum class XdpMode { automatic, native, generic };
// "auto", "native", "generic".
std::string to_string(XdpMode mode);
// The inverse of to_string(); throws ApiError (400) naming `field` otherwise.
XdpMode xdp_mode_from_string(const std::string& text, const std::string& field);

// The driver of an interface in the calling thread's network namespace
// (ETHTOOL_GDRVINFO), e.g. "veth"; "" when it cannot be read.
std::string interface_driver(const std::string& ifname);

struct XdpInterface {
  std::string ifname;
  uint32_t ifindex = 0;
  XdpMode mode = XdpMode::native;  // as attached: native or generic
  std::set<std::string> owners;    // plugins that asked for this interface
};

class XdpChain {
 public:
  // Loads the root program, creates or re-adopts <pin_dir>/xdp/chain and the
  // pinned root links. Throws std::runtime_error when that fails.
  explicit XdpChain(std::string pin_dir);
  ~XdpChain();  // leaves pins (and so the datapath) in place
  XdpChain(const XdpChain&) = delete;
  XdpChain& operator=(const XdpChain&) = delete;

  // The chain map's fd: a plugin calls bpf_map__reuse_fd() with it on its own
  // `adam_xdp_chain` map (bpf/adam/xdp_chain.h) before loading.
  int chain_fd() const;

  // Puts a program into a slot (atomic for the packet path: a packet sees the
  // old program or the new one) / empties the slot.
  void install(uint32_t slot, int prog_fd);
  void uninstall(uint32_t slot);
  // The program id in a slot, 0 when empty.
  uint32_t slot_prog_id(uint32_t slot) const;

  // Sets the interfaces `owner` wants, in `mode`: attaches the root program
  // where no plugin had it yet, detaches it where `owner` was the last. An
  // interface attached in another mode (a re-adopted link, or `owner`'s own
  // earlier choice) is re-attached in the new one when no other plugin
  // claims it; packets pass unfiltered for that moment. All or nothing:
  // throws ApiError (400, field "interfaces[i]") for a missing interface,
  // ApiError (409) when another plugin holds the interface in the other mode,
  // and std::runtime_error when an attach fails, with nothing changed.
  void set_interfaces(const std::string& owner, const std::vector<std::string>& ifnames,
                      XdpMode mode = XdpMode::automatic);
  // Detaches root links that no owner claims (called once plugins are restored).
  void prune_unowned();
  // Removes the chain and every root link, pins included (tests, uninstall).
  void remove_all();

  std::vector<XdpInterface> interfaces() const;

  // ifname -> ifindex in adamd's network namespace; throws ApiError naming
  // `field` when there is no such interface.
  static uint32_t ifindex_of(const std::string& ifname, const std::string& field);

 private:
  struct Attachment {
    uint32_t ifindex = 0;
    XdpMode mode = XdpMode::native;  // native or generic
    BpfLinkPtr link;
    std::set<std::string> owners;
  };
  // Attaches in att.mode (auto: the kernel's choice, native when the driver
  // supports XDP), pins the link, and sets att.mode to the mode attached.
  void attach_root(const std::string& ifname, Attachment& att);
  void detach_root(const std::string& ifname);

  std::string pin_dir_;
  mutable std::mutex mu_;
  std::unique_ptr<xdp_root_bpf, void (*)(xdp_root_bpf*)> skel_;
  std::map<std::string, Attachment> attachments_;  // by ifname
};

}  // namespace adam
