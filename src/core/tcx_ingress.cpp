#include "core/tcx_ingress.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "core/netdev_link.h"
#include "core/undo.h"

namespace adam {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPinPrefix = "tc@";

}  // namespace

std::string tcx_unsupported_reason() {
  // A tc program that lets every packet go on, linked to ifindex 0: a kernel
  // with tcx refuses the interface (ENODEV), one without refuses the attach
  // type (EINVAL). Nothing is ever attached.
  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = -1;  // TC_ACT_UNSPEC
  insns[1].code = BPF_JMP | BPF_EXIT;
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "adam_probe_tcx", "GPL", insns, 2, nullptr));
  if (!prog) return "loading a BPF_PROG_TYPE_SCHED_CLS program failed: " + libbpf_error(prog.get());
  UniqueFd link(bpf_link_create(prog.get(), 0, static_cast<bpf_attach_type>(kBpfTcxIngress), nullptr));
  if (link.get() == -ENODEV) return "";
  if (link) return "";  // not expected for ifindex 0, but then tcx is there
  if (link.get() == -EINVAL) return "the kernel has no tcx links (Linux 6.6 or later)";
  return "creating a tcx link failed: " + libbpf_error(link.get());
}

TcxIngress::TcxIngress(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("tc ingress: cannot create " + dir_ + ": " + ec.message());
  for (PinnedNetdevLink& pinned :
       adopt_pinned_netdev_links(dir_, kPinPrefix, kBpfLinkTypeTcx, "tc ingress")) {
    spdlog::info("tc ingress: re-adopted the link of '{}' (ifindex {})", pinned.ifname, pinned.ifindex);
    links_[pinned.ifname] = Attachment{pinned.ifindex, std::move(pinned.link)};
  }
}

TcxIngress::~TcxIngress() = default;

std::set<std::string> TcxIngress::attach(const std::map<std::string, uint32_t>& ifaces, int prog_fd) {
  std::set<std::string> created;
  UndoStack undo;  // all or nothing: the links this call created go again
  for (const auto& [ifname, ifindex] : ifaces) {
    const std::string what = "the tc link of interface '" + ifname + "'";
    auto it = links_.find(ifname);
    // A link detached behind our back (ENOLINK) is attached anew below.
    if (it != links_.end() && it->second.ifindex == ifindex &&
        update_link_program(it->second.link.get(), prog_fd, what))
      continue;
    if (it != links_.end()) detach(ifname);  // stale: the interface was re-created
    UniqueFd link_fd(bpf_link_create(prog_fd, static_cast<int>(ifindex),
                                     static_cast<bpf_attach_type>(kBpfTcxIngress), nullptr));
    if (!link_fd) {
      const int err = link_fd.get();
      throw std::runtime_error(
          "cannot attach to the tc ingress of interface '" + ifname +
          "': " + (err == -EINVAL ? "the kernel has no tcx links (Linux 6.6 or later)" : libbpf_error(err)));
    }
    links_[ifname] =
        Attachment{ifindex, pin_new_link(std::move(link_fd), dir_ + "/" + kPinPrefix + ifname, what)};
    undo.push(what, [this, name = ifname] { detach(name); });
    created.insert(ifname);
    spdlog::info("tc ingress: attached to '{}' (ifindex {})", ifname, ifindex);
  }
  undo.dismiss();
  return created;
}

void TcxIngress::keep_only(const std::set<std::string>& ifnames) {
  std::vector<std::string> gone;
  for (const auto& [ifname, att] : links_)
    if (!ifnames.count(ifname)) gone.push_back(ifname);
  for (const std::string& ifname : gone) detach(ifname);
}

std::set<std::string> TcxIngress::interfaces() const {
  std::set<std::string> names;
  for (const auto& [ifname, att] : links_) names.insert(ifname);
  return names;
}

void TcxIngress::detach(const std::string& ifname) {
  auto it = links_.find(ifname);
  if (it == links_.end()) return;
  detach_pinned_link(std::move(it->second.link), "the tc link of '" + ifname + "'");
  links_.erase(it);
  spdlog::info("tc ingress: detached from '{}'", ifname);
}

}  // namespace adam
