#include "core/xdp_chain.h"

// <net/if.h> before the <linux/...> headers (linux/libc-compat.h then skips
// the duplicate definitions of linux/if.h).
#include <net/if.h>
// clang-format off
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>
// clang-format on

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "adam/xdp_chain.h"  // slot numbers
#include "core/bpf_pins.h"
#include "core/errors.h"
#include "core/netdev_link.h"
#include "core/undo.h"
#include "xdp_root.skel.h"

namespace adam {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRootPinPrefix = "root@";

// Text of a negative errno returned by libbpf.
std::string err_text(int err) { return libbpf_error(err < 0 ? err : -err); }

// Name and id of the XDP program attached to an interface, for error messages.
std::string describe_attached_prog(uint32_t ifindex) {
  bpf_xdp_query_opts opts{};
  opts.sz = sizeof(opts);
  if (bpf_xdp_query(static_cast<int>(ifindex), 0, &opts) != 0) return "";
  uint32_t id = opts.prog_id ? opts.prog_id : opts.drv_prog_id ? opts.drv_prog_id : opts.skb_prog_id;
  if (id == 0) id = opts.hw_prog_id;
  if (id == 0) return "";
  std::string text = "id " + std::to_string(id);
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (fd) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 && info.name[0] != '\0')
      text += ", name '" + std::string(info.name) + "'";
  }
  return text;
}

// The mode `prog_id` is attached in on `ifindex` (false: it is not attached
// there in native or generic mode).
bool attached_mode(uint32_t ifindex, uint32_t prog_id, XdpMode& mode) {
  bpf_xdp_query_opts opts{};
  opts.sz = sizeof(opts);
  if (prog_id == 0 || bpf_xdp_query(static_cast<int>(ifindex), 0, &opts) != 0) return false;
  if (opts.drv_prog_id == prog_id) {
    mode = XdpMode::native;
    return true;
  }
  if (opts.skb_prog_id == prog_id) {
    mode = XdpMode::generic;
    return true;
  }
  return false;
}

uint32_t link_prog_id(bpf_link* link) {
  bpf_link_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) != 0) return 0;
  return info.prog_id;
}

// Whether an interface attached in `actual` mode serves a request for
// `requested` (see XdpMode: auto switches only a veth in native mode).
bool mode_serves(XdpMode requested, XdpMode actual, bool is_veth) {
  if (requested == XdpMode::automatic) return !(is_veth && actual == XdpMode::native);
  return requested == actual;
}

void check_slot(uint32_t slot) {
  if (slot >= ADAM_XDP_CHAIN_SLOTS)
    throw std::invalid_argument("XDP chain slot " + std::to_string(slot) + " out of range (0.." +
                                std::to_string(ADAM_XDP_CHAIN_SLOTS - 1) + ")");
}

}  // namespace

std::string interface_driver(const std::string& ifname) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return "";
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq req{};
  ifname.copy(req.ifr_name, IF_NAMESIZE - 1);
  req.ifr_data = reinterpret_cast<char*>(&info);
  if (::ioctl(sock.get(), SIOCETHTOOL, &req) != 0) return "";
  return std::string(info.driver, strnlen(info.driver, sizeof(info.driver)));
}

std::string to_string(XdpMode mode) {
  switch (mode) {
    case XdpMode::automatic:
      return "auto";
    case XdpMode::native:
      return "native";
    case XdpMode::generic:
      return "generic";
  }
  return "?";
}

XdpMode xdp_mode_from_string(const std::string& text, const std::string& field) {
  for (XdpMode mode : {XdpMode::automatic, XdpMode::native, XdpMode::generic})
    if (text == to_string(mode)) return mode;
  throw bad_request(field, "'" + text + "' is not an XDP mode: use \"native\", \"generic\" or \"auto\"");
}

XdpChain::XdpChain(std::string pin_dir)
    : pin_dir_(std::move(pin_dir)), skel_(nullptr, xdp_root_bpf__destroy) {
  const std::string dir = pin_dir_ + "/xdp";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("XDP chain: cannot create " + dir + ": " + ec.message());
  struct statfs st {};
  if (statfs(dir.c_str(), &st) == 0 && st.f_type != BPF_FS_MAGIC)
    throw std::runtime_error("XDP chain: " + dir +
                             " is not on a bpf filesystem (mount bpffs on /sys/fs/bpf)");

  skel_.reset(xdp_root_bpf__open());
  if (!skel_) throw std::runtime_error("XDP chain: cannot open the root XDP program: " + err_text(-errno));

  // The chain: re-open the pinned one (programs of the previous adamd are still
  // in it, packets keep flowing through them) or create and pin a new one.
  const std::string chain_path = dir + "/chain";
  UniqueFd chain;
  try {
    // Checked against the root program's own declaration of the chain.
    chain = open_pinned_map(chain_path, skel_->maps.adam_xdp_chain);
    if (chain) spdlog::info("XDP chain: re-adopted the pinned chain {}", chain_path);
  } catch (const PinMismatch& e) {
    spdlog::warn("XDP chain: {}; replacing it with a new chain", e.what());
    ::unlink(chain_path.c_str());
  }
  UndoStack undo;  // a chain created here goes again if the load fails
  if (!chain) {
    chain.reset(bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "adam_xdp_chain", sizeof(__u32), sizeof(__u32),
                               ADAM_XDP_CHAIN_SLOTS, nullptr));
    if (!chain) throw std::runtime_error("XDP chain: cannot create the chain map: " + err_text(-errno));
    if (int err = bpf_obj_pin(chain.get(), chain_path.c_str()); err)
      throw std::runtime_error("XDP chain: cannot pin " + chain_path + ": " + err_text(err));
    undo.push("the pin " + chain_path, [chain_path] { ::unlink(chain_path.c_str()); });
    spdlog::info("XDP chain: created {} ({} slots)", chain_path, ADAM_XDP_CHAIN_SLOTS);
  }

  int err = bpf_map__reuse_fd(skel_->maps.adam_xdp_chain, chain.get());
  if (!err) err = xdp_root_bpf__load(skel_.get());
  if (err) throw std::runtime_error("XDP chain: cannot load the root XDP program: " + err_text(err));
  undo.dismiss();

  // Root links pinned by an earlier adamd: keep them (the datapath never stops)
  // and point them at the freshly loaded root program.
  for (PinnedNetdevLink& pinned :
       adopt_pinned_netdev_links(dir, kRootPinPrefix, BPF_LINK_TYPE_XDP, "XDP chain")) {
    try {
      if (!update_link_program(pinned.link.get(), bpf_program__fd(skel_->progs.adam_xdp_root), pinned.path)) {
        spdlog::info("XDP chain: {} is detached; removing the stale pin", pinned.path);
        bpf_link__unpin(pinned.link.get());
        continue;
      }
    } catch (const std::runtime_error& e) {
      spdlog::warn("XDP chain: {}; it keeps the previous root program", e.what());
    }
    XdpMode mode = XdpMode::native;
    if (!attached_mode(pinned.ifindex, link_prog_id(pinned.link.get()), mode))
      spdlog::warn("XDP chain: cannot tell the attach mode of {}; taking it for native", pinned.path);
    spdlog::info("XDP chain: re-adopted the root link of '{}' (ifindex {}, {} mode)", pinned.ifname,
                 pinned.ifindex, to_string(mode));
    Attachment att;
    att.ifindex = pinned.ifindex;
    att.mode = mode;
    att.link = std::move(pinned.link);
    attachments_[pinned.ifname] = std::move(att);
  }
}

XdpChain::~XdpChain() = default;

int XdpChain::chain_fd() const {
  std::lock_guard lock(mu_);
  return bpf_map__fd(skel_->maps.adam_xdp_chain);
}

void XdpChain::install(uint32_t slot, int prog_fd) {
  check_slot(slot);
  std::lock_guard lock(mu_);
  if (int err = bpf_map_update_elem(bpf_map__fd(skel_->maps.adam_xdp_chain), &slot, &prog_fd, BPF_ANY); err)
    throw std::runtime_error("XDP chain: cannot install a program in slot " + std::to_string(slot) + ": " +
                             err_text(err));
  spdlog::debug("XDP chain: installed program fd {} in slot {}", prog_fd, slot);
}

void XdpChain::uninstall(uint32_t slot) {
  check_slot(slot);
  std::lock_guard lock(mu_);
  int err = bpf_map_delete_elem(bpf_map__fd(skel_->maps.adam_xdp_chain), &slot);
  if (err && err != -ENOENT)
    throw std::runtime_error("XDP chain: cannot empty slot " + std::to_string(slot) + ": " + err_text(err));
  spdlog::debug("XDP chain: emptied slot {}", slot);
}

uint32_t XdpChain::slot_prog_id(uint32_t slot) const {
  check_slot(slot);
  std::lock_guard lock(mu_);
  __u32 id = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.adam_xdp_chain), &slot, &id) != 0) return 0;
  return id;
}

void XdpChain::attach_root(const std::string& ifname, Attachment& att) {
  // libbpf 1.1 has no attach call that takes XDP flags: create the link with
  // bpf_link_create(), pin it, and open the pin as a bpf_link.
  bpf_link_create_opts opts{};
  opts.sz = sizeof(opts);
  opts.flags = att.mode == XdpMode::generic  ? XDP_FLAGS_SKB_MODE
               : att.mode == XdpMode::native ? XDP_FLAGS_DRV_MODE
                                             : 0;
  const int prog_fd = bpf_program__fd(skel_->progs.adam_xdp_root);
  UniqueFd link_fd(bpf_link_create(prog_fd, static_cast<int>(att.ifindex), BPF_XDP, &opts));
  const std::string mode = to_string(att.mode);
  if (!link_fd) {
    const int err = link_fd.get();
    if (err == -EBUSY || err == -EEXIST) {
      std::string prog = describe_attached_prog(att.ifindex);
      throw std::runtime_error("cannot attach XDP to interface '" + ifname +
                               "': it already has an XDP program that adam does not manage" +
                               (prog.empty() ? "" : " (" + prog + ")") + "; detach it first");
    }
    if (err == -EOPNOTSUPP && att.mode == XdpMode::native)
      throw std::runtime_error("cannot attach XDP to interface '" + ifname +
                               "' in native mode: its driver does not support XDP (use generic mode)");
    throw std::runtime_error("cannot attach XDP to interface '" + ifname + "'" +
                             (att.mode == XdpMode::automatic ? "" : " in " + mode + " mode") + ": " +
                             err_text(err));
  }
  att.link = pin_new_link(std::move(link_fd), pin_dir_ + "/xdp/" + kRootPinPrefix + ifname,
                          "the XDP link of interface '" + ifname + "'");
  if (!attached_mode(att.ifindex, link_prog_id(att.link.get()), att.mode)) {
    spdlog::warn("XDP chain: cannot tell the attach mode of '{}'; taking it for native", ifname);
    att.mode = XdpMode::native;
  }
  spdlog::info("XDP chain: attached the root program to '{}' (ifindex {}, {} mode)", ifname, att.ifindex,
               to_string(att.mode));
}

void XdpChain::detach_root(const std::string& ifname) {
  auto it = attachments_.find(ifname);
  if (it == attachments_.end()) return;
  detach_pinned_link(std::move(it->second.link), "the XDP link of '" + ifname + "'");
  attachments_.erase(it);
  spdlog::info("XDP chain: detached the root program from '{}'", ifname);
}

void XdpChain::set_interfaces(const std::string& owner, const std::vector<std::string>& ifnames,
                              XdpMode mode) {
  std::lock_guard lock(mu_);
  // Resolve every name first: a missing interface changes nothing.
  struct Wanted {
    std::string name;
    uint32_t ifindex;
    XdpMode mode;  // to attach in: auto stays auto (the kernel's choice) except on veth
    bool is_veth;
  };
  std::vector<Wanted> wanted;  // in the order given, without repeats
  std::set<std::string> wanted_names;
  for (size_t i = 0; i < ifnames.size(); ++i) {
    uint32_t ifindex = ifindex_of(ifnames[i], "interfaces[" + std::to_string(i) + "]");
    if (!wanted_names.insert(ifnames[i]).second) continue;
    const bool is_veth = interface_driver(ifnames[i]) == "veth";
    wanted.push_back(Wanted{ifnames[i], ifindex,
                            mode == XdpMode::automatic && is_veth ? XdpMode::generic : mode, is_veth});
  }

  // Which attachments are stale (the interface was deleted and re-created) or
  // in a mode that does not serve `mode`; refuse to switch the mode of an
  // interface another plugin holds.
  std::set<std::string> replace;
  std::map<std::string, XdpMode> switched;  // mode switches: the mode to restore on failure
  for (const Wanted& w : wanted) {
    auto it = attachments_.find(w.name);
    if (it == attachments_.end() || !it->second.link) continue;
    const std::optional<uint32_t> link_ifindex =
        netdev_link_ifindex(bpf_link__fd(it->second.link.get()), BPF_LINK_TYPE_XDP);
    if (link_ifindex != w.ifindex || it->second.ifindex != w.ifindex) {
      spdlog::info(
          "XDP chain: the root link of '{}' is stale (link ifindex {}, interface ifindex {}); replacing it",
          w.name, link_ifindex.value_or(0), w.ifindex);
      replace.insert(w.name);
      continue;
    }
    if (mode_serves(mode, it->second.mode, w.is_veth)) continue;
    for (const std::string& other : it->second.owners)
      if (other != owner)
        throw conflict("interface '" + w.name + "' is attached in " + to_string(it->second.mode) +
                       " mode for '" + other + "'; it cannot switch to " + to_string(w.mode) +
                       " mode while '" + other + "' uses it");
    spdlog::info("XDP chain: '{}' is attached in {} mode; re-attaching it in {} mode", w.name,
                 to_string(it->second.mode), to_string(w.mode));
    replace.insert(w.name);
    switched[w.name] = it->second.mode;
  }

  // Attach where the root program is not yet, or anew where it is replaced.
  // Undo every new attach on failure.
  std::map<std::string, Attachment> fresh;
  try {
    for (const Wanted& w : wanted) {
      auto it = attachments_.find(w.name);
      if (it != attachments_.end() && it->second.link && !replace.count(w.name)) continue;
      if (replace.count(w.name)) {
        // Detached before the new attach: the kernel refuses a second link on
        // one interface, and native and generic programs side by side.
        std::set<std::string> owners = it->second.owners;
        detach_root(w.name);
        Attachment replacement;
        replacement.ifindex = w.ifindex;
        replacement.owners = std::move(owners);
        attachments_.emplace(w.name, std::move(replacement));  // keeps its owners if the attach below fails
      }
      Attachment att;
      att.ifindex = w.ifindex;
      att.mode = w.mode;
      attach_root(w.name, att);
      fresh.emplace(w.name, std::move(att));
    }
  } catch (...) {
    for (auto& [name, att] : fresh) {
      detach_pinned_link(std::move(att.link), "the XDP link of '" + name + "'");
      spdlog::info("XDP chain: undid the attach to '{}'", name);
    }
    // An interface whose mode was being switched gets its old mode back.
    for (const auto& [name, old_mode] : switched) {
      auto it = attachments_.find(name);
      if (it == attachments_.end() || it->second.link) continue;
      it->second.mode = old_mode;
      try {
        attach_root(name, it->second);
      } catch (const std::exception& e) {
        spdlog::error("XDP chain: cannot attach '{}' in {} mode again: {}", name, to_string(old_mode),
                      e.what());
      }
    }
    std::erase_if(attachments_, [](const auto& kv) { return !kv.second.link && kv.second.owners.empty(); });
    throw;
  }

  // Commit.
  for (auto& [name, att] : fresh) {
    auto it = attachments_.find(name);
    if (it != attachments_.end()) att.owners = std::move(it->second.owners);
    attachments_[name] = std::move(att);
  }
  for (const Wanted& w : wanted) attachments_[w.name].owners.insert(owner);
  std::vector<std::string> unused;
  for (auto& [name, att] : attachments_) {
    if (wanted_names.count(name)) continue;
    if (att.owners.erase(owner) > 0 && att.owners.empty()) unused.push_back(name);
  }
  for (const auto& name : unused) detach_root(name);
  // Entries left without a link (a failed stale replacement) and no owner.
  std::erase_if(attachments_, [](const auto& kv) { return !kv.second.link && kv.second.owners.empty(); });
}

void XdpChain::prune_unowned() {
  std::lock_guard lock(mu_);
  std::vector<std::string> unused;
  for (const auto& [name, att] : attachments_)
    if (att.owners.empty()) unused.push_back(name);
  for (const auto& name : unused) detach_root(name);
}

void XdpChain::remove_all() {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, att] : attachments_) names.push_back(name);
  for (const auto& name : names) detach_root(name);
  const int chain = bpf_map__fd(skel_->maps.adam_xdp_chain);
  for (__u32 slot = 0; slot < ADAM_XDP_CHAIN_SLOTS; ++slot) bpf_map_delete_elem(chain, &slot);
  // Whatever else is left under xdp/ (the chain, pins that could not be adopted).
  std::error_code ec;
  fs::remove_all(pin_dir_ + "/xdp", ec);
  if (ec) spdlog::warn("XDP chain: cannot remove {}/xdp: {}", pin_dir_, ec.message());
  spdlog::info("XDP chain: removed the chain and every root link under {}/xdp", pin_dir_);
}

std::vector<XdpInterface> XdpChain::interfaces() const {
  std::lock_guard lock(mu_);
  std::vector<XdpInterface> out;
  for (const auto& [name, att] : attachments_) {
    if (!att.link) continue;
    out.push_back(XdpInterface{name, att.ifindex, att.mode, att.owners});
  }
  return out;
}

uint32_t XdpChain::ifindex_of(const std::string& ifname, const std::string& field) {
  // Linux interface names: 1..15 bytes, no '/', ':' or whitespace.
  bool valid = !ifname.empty() && ifname.size() < IF_NAMESIZE && ifname != "." && ifname != "..";
  for (char c : ifname)
    if (c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c))) valid = false;
  // if_nametoindex asks the kernel (SIOCGIFINDEX) in the calling thread's
  // network namespace, unlike /sys/class/net.
  unsigned int index = valid ? if_nametoindex(ifname.c_str()) : 0;
  if (index == 0) throw bad_request(field, "no interface named '" + ifname + "'");
  return index;
}

}  // namespace adam
