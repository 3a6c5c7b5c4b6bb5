#pragma once
// A program at the tc ingress hook of interfaces, through tcx links (Linux
// 6.6+): one bpf_link per interface, pinned at <dir>/tc@<ifname>, so that the
// program keeps running while adamd is down and a new TcxIngress re-adopts it
// (as XdpChain does with its root links). Unlike a classic tc filter, a tcx
// link needs no qdisc, is owned by whoever holds or pins it, and its program
// is replaced in one step (bpf_link_update) without a gap.
//
// The firewall uses it where XDP costs more than the classifier: on veth,
// every XDP mode copies the packets the local stack sends (docs/firewall.md,
// "Where the firewall hooks in").
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "core/bpf_handle.h"

namespace adam {

// uapi values of Linux 6.6 that Debian 12's linux-libc-dev (6.1) lacks.
inline constexpr int kBpfTcxIngress = 46;   // enum bpf_attach_type: BPF_TCX_INGRESS
inline constexpr int kBpfLinkTypeTcx = 11;  // enum bpf_link_type: BPF_LINK_TYPE_TCX

class TcxIngress {
 public:
  // Re-adopts the links pinned in `dir` (created when missing): a link whose
  // interface is gone, or that was detached, loses its pin.
  explicit TcxIngress(std::string dir);
  ~TcxIngress();  // leaves links and pins in place
  TcxIngress(const TcxIngress&) = delete;
  TcxIngress& operator=(const TcxIngress&) = delete;

  // Runs `prog_fd` (a BPF_PROG_TYPE_SCHED_CLS program) at the ingress of
  // `ifaces` (name -> ifindex): a link this object holds on the interface is
  // updated to the program, the others are created and pinned. Links on
  // other interfaces stay (see keep_only). All or nothing: on failure the
  // links this call created are detached and std::runtime_error says why.
  // Returns the names of the interfaces it attached anew.
  std::set<std::string> attach(const std::map<std::string, uint32_t>& ifaces, int prog_fd);
  // Detaches (and unpins) the link on `ifname`, if any.
  void detach(const std::string& ifname);
  // Detaches (and unpins) every link not on one of `ifnames`.
  void keep_only(const std::set<std::string>& ifnames);
  void detach_all() { keep_only({}); }

  // The interfaces that have a link, by name.
  std::set<std::string> interfaces() const;

 private:
  struct Attachment {
    uint32_t ifindex = 0;
    BpfLinkPtr link;
  };

  std::string dir_;
  std::map<std::string, Attachment> links_;  // by ifname
};

// "" when the kernel has tcx links, else why not (the feature probe).
std::string tcx_unsupported_reason();

}  // namespace adam
