#pragma once
// Pinned bpf_links, so that a plugin's hooks (tracepoints, cgroup hooks, BPF
// LSM, network devices) keep enforcing across an adamd restart: a link just
// attached is pinned in bpffs, which keeps its program attached after adamd's
// fds close; the next adamd re-opens it by path, checks that it is the link
// it expects, and swaps its newly loaded program in without a gap; stop()
// detaches it and removes the pin. Links on network interfaces, keyed by
// interface name: core/netdev_link.h.
#include <linux/bpf.h>

#include <cstdint>
#include <string>

#include "core/bpf_handle.h"

namespace adam {

// Pins a link just created at `path`, replacing a stale pin there: the link
// then outlives this process, and the bpf_link knows its pin
// (bpf_link__unpin). `what` names the link in errors. On failure the link is
// closed, which detaches it, and std::runtime_error says why.
//   From bpf_program__attach_*():
BpfLinkPtr pin_new_link(BpfLinkPtr link, const std::string& path, const std::string& what);
//   From bpf_link_create() (its one fd):
BpfLinkPtr pin_new_link(UniqueFd link_fd, const std::string& path, const std::string& what);

// What open_pinned_link() checks a pinned link against.
struct LinkExpectation {
  uint32_t type = 0;  // BPF_LINK_TYPE_* (bpf_link_type; newer types than the uapi headers know as numbers)
  std::string prog_name;  // its program's name ("": any), as the kernel keeps it (15 characters)
  std::string prog_tag;   // its program's tag (prog_tag()): exactly that program; "": any
};

// Opens the link pinned at `path`. Null when nothing is pinned there; throws
// PinMismatch (core/bpf_pins.h) naming the path and what differs when the pin
// is not a link of `expected`'s type and program, std::runtime_error when it
// cannot be opened.
BpfLinkPtr open_pinned_link(const std::string& path, const LinkExpectation& expected);

// The kernel's info on a link; throws std::runtime_error when it cannot be read.
bpf_link_info link_info(int link_fd);
// A BPF_LINK_TYPE_* by libbpf's name ("xdp", "cgroup", "perf_event", ...),
// "type <n>" for one this libbpf does not know.
std::string link_type_name(uint32_t type);
// The tag of a loaded program (hex): the kernel's hash of its instructions,
// the same for every load of the same code.
std::string prog_tag(int prog_fd);

// Runs `prog_fd` on `link` from now on, in place (bpf_link_update): every
// event or packet meets the old program or the new one, none meets neither.
// The kernel can update cgroup, XDP, tcx, netns and iterator links, not
// tracing (fentry, BPF LSM), raw tracepoint or perf event (tracepoint,
// kprobe) ones: replace_pinned_link() swaps those. Returns false when the
// link was detached meanwhile (its hook is gone: ENOLINK); throws
// std::runtime_error naming `what` otherwise.
bool update_link_program(bpf_link* link, int prog_fd, const std::string& what);

// Swaps a pinned link that the kernel cannot update: `replacement`, a link of
// the new program just attached to the same hook, takes over the pin of
// `pinned` (renamed over it, so that the path always names one of the two),
// and `pinned` is detached. For a moment both programs run: no event meets
// neither. Returns the replacement, pinned. On failure `pinned` keeps its
// pin, `replacement` is detached, and std::runtime_error names `what`.
BpfLinkPtr replace_pinned_link(BpfLinkPtr pinned, BpfLinkPtr replacement, const std::string& what);

// Removes the pin of `link` and detaches it: BPF_LINK_DETACH where the link
// type has it, else closing what should be its last fd (the kernel then lets
// it go within an RCU grace period). For stop() and undo: failures are
// logged, naming `what`, not thrown.
void detach_pinned_link(BpfLinkPtr link, const std::string& what);

}  // namespace adam
