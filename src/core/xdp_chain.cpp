#include "core/xdp_chain.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "core/errors.h"
#include "xdp_root.skel.h"
// bpf/xdp_chain.h (slot numbers); angle brackets so that the search skips this
// directory, where "xdp_chain.h" is the C++ header.
#include <xdp_chain.h>

namespace adam {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRootPinPrefix = "root@";

// Text of a negative errno returned by libbpf.
std::string err_text(int err) { return libbpf_error(err < 0 ? err : -err); }

bool is_chain_map(int fd, std::string& why) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd, &info, &len); err) {
    why = "cannot read its info: " + err_text(err);
    return false;
  }
  if (info.type != BPF_MAP_TYPE_PROG_ARRAY || info.key_size != 4 || info.value_size != 4 ||
      info.max_entries != ADAM_XDP_CHAIN_SLOTS) {
    why = "map type " + std::to_string(info.type) + " with " + std::to_string(info.max_entries) +
          " entries, not a prog array of " + std::to_string(ADAM_XDP_CHAIN_SLOTS) + " slots";
    return false;
  }
  return true;
}

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

// The ifindex a pinned/opened XDP link is attached to (0: the interface is gone).
bool xdp_link_ifindex(bpf_link* link, uint32_t& ifindex, std::string& why) {
  bpf_link_info info{};
  __u32 len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len); err) {
    why = "cannot read its info: " + err_text(err);
    return false;
  }
  if (info.type != BPF_LINK_TYPE_XDP) {
    why = "link type " + std::to_string(info.type) + " is not XDP";
    return false;
  }
  ifindex = info.xdp.ifindex;
  return true;
}

void check_slot(uint32_t slot) {
  if (slot >= ADAM_XDP_CHAIN_SLOTS)
    throw std::invalid_argument("XDP chain slot " + std::to_string(slot) + " out of range (0.." +
                                std::to_string(ADAM_XDP_CHAIN_SLOTS - 1) + ")");
}

}  // namespace

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
  UniqueFd chain(bpf_obj_get(chain_path.c_str()));
  if (chain) {
    std::string why;
    if (!is_chain_map(chain.get(), why)) {
      spdlog::warn("XDP chain: {} is unusable ({}); replacing it with a new chain", chain_path, why);
      chain.reset();
      ::unlink(chain_path.c_str());
    } else {
      spdlog::info("XDP chain: re-adopted the pinned chain {}", chain_path);
    }
  } else if (chain.get() != -ENOENT) {
    throw std::runtime_error("XDP chain: cannot open " + chain_path + ": " + err_text(chain.get()));
  }
  bool created = false;
  if (!chain) {
    chain.reset(bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "adam_xdp_chain", sizeof(__u32), sizeof(__u32),
                               ADAM_XDP_CHAIN_SLOTS, nullptr));
    if (!chain) throw std::runtime_error("XDP chain: cannot create the chain map: " + err_text(-errno));
    if (int err = bpf_obj_pin(chain.get(), chain_path.c_str()); err)
      throw std::runtime_error("XDP chain: cannot pin " + chain_path + ": " + err_text(err));
    created = true;
    spdlog::info("XDP chain: created {} ({} slots)", chain_path, ADAM_XDP_CHAIN_SLOTS);
  }

  int err = bpf_map__reuse_fd(skel_->maps.adam_xdp_chain, chain.get());
  if (!err) err = xdp_root_bpf__load(skel_.get());
  if (err) {
    if (created) ::unlink(chain_path.c_str());
    throw std::runtime_error("XDP chain: cannot load the root XDP program: " + err_text(err));
  }

  // Root links pinned by an earlier adamd: keep them (the datapath never stops)
  // and point them at the freshly loaded root program.
  std::vector<std::string> pinned;  // listed first: re-pinning below changes the directory
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.starts_with(kRootPinPrefix)) pinned.push_back(file);
  }
  for (const std::string& file : pinned) {
    std::string ifname = file.substr(std::char_traits<char>::length(kRootPinPrefix));
    const std::string path = dir + "/" + file;
    BpfLinkPtr link(bpf_link__open(path.c_str()));
    if (!link) {
      spdlog::warn("XDP chain: cannot open pinned link {}: {}; leaving it", path, err_text(-errno));
      continue;
    }
    uint32_t ifindex = 0;
    std::string why;
    if (!xdp_link_ifindex(link.get(), ifindex, why)) {
      spdlog::warn("XDP chain: pinned {} is not an XDP link ({}); leaving it", path, why);
      continue;
    }
    if (ifindex == 0) {
      spdlog::info("XDP chain: the interface of {} is gone; removing the stale pin", path);
      bpf_link__unpin(link.get());
      continue;
    }
    if (int uerr = bpf_link__update_program(link.get(), skel_->progs.adam_xdp_root); uerr) {
      if (uerr == -ENOLINK) {
        spdlog::info("XDP chain: {} is detached; removing the stale pin", path);
        bpf_link__unpin(link.get());
        continue;
      }
      spdlog::warn("XDP chain: cannot update {} to the new root program ({}); it keeps the previous one",
                   path, err_text(uerr));
    }
    // The interface may have been renamed since: key it by its current name.
    char name_now[IF_NAMESIZE] = {};
    if (if_indextoname(ifindex, name_now) != nullptr && ifname != name_now &&
        if_nametoindex(ifname.c_str()) == 0) {
      const std::string new_path = dir + "/" + kRootPinPrefix + name_now;
      spdlog::info("XDP chain: interface '{}' (ifindex {}) is now named '{}'", ifname, ifindex, name_now);
      if (bpf_link__unpin(link.get()) == 0) {
        if (bpf_link__pin(link.get(), new_path.c_str()) == 0) {
          ifname = name_now;
        } else {
          spdlog::warn("XDP chain: cannot re-pin {} as {}; keeping the old name", path, new_path);
          bpf_link__pin(link.get(), path.c_str());
        }
      }
    }
    spdlog::info("XDP chain: re-adopted the root link of '{}' (ifindex {})", ifname, ifindex);
    Attachment att;
    att.ifindex = ifindex;
    att.link = std::move(link);
    attachments_[ifname] = std::move(att);
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
  bpf_link* raw = bpf_program__attach_xdp(skel_->progs.adam_xdp_root, static_cast<int>(att.ifindex));
  if (raw == nullptr) {
    const int err = -errno;
    if (err == -EBUSY || err == -EEXIST) {
      std::string prog = describe_attached_prog(att.ifindex);
      throw std::runtime_error("cannot attach XDP to interface '" + ifname +
                               "': it already has an XDP program that adam does not manage" +
                               (prog.empty() ? "" : " (" + prog + ")") + "; detach it first");
    }
    throw std::runtime_error("cannot attach XDP to interface '" + ifname + "': " + err_text(err));
  }
  BpfLinkPtr link(raw);
  const std::string path = pin_dir_ + "/xdp/" + kRootPinPrefix + ifname;
  ::unlink(path.c_str());  // a stale pin of a link that could not be adopted
  if (int err = bpf_link__pin(link.get(), path.c_str()); err)
    throw std::runtime_error("cannot pin the XDP link of interface '" + ifname + "' at " + path + ": " +
                             err_text(err));  // `link` detaches as it goes
  att.link = std::move(link);
  spdlog::info("XDP chain: attached the root program to '{}' (ifindex {})", ifname, att.ifindex);
}

void XdpChain::detach_root(const std::string& ifname) {
  auto it = attachments_.find(ifname);
  if (it == attachments_.end()) return;
  if (bpf_link* link = it->second.link.get()) {
    if (int err = bpf_link__unpin(link); err && err != -EINVAL)
      spdlog::warn("XDP chain: cannot unpin the link of '{}': {}", ifname, err_text(err));
    int err = bpf_link__detach(link);
    if (err && err != -ENOLINK)
      spdlog::warn("XDP chain: cannot detach the link of '{}': {}", ifname, err_text(err));
  }
  attachments_.erase(it);  // closes the link's fd
  spdlog::info("XDP chain: detached the root program from '{}'", ifname);
}

void XdpChain::set_interfaces(const std::string& owner, const std::vector<std::string>& ifnames) {
  std::lock_guard lock(mu_);
  // Resolve every name first: a missing interface changes nothing.
  std::vector<std::pair<std::string, uint32_t>> wanted;  // in the order given, without repeats
  std::set<std::string> wanted_names;
  for (size_t i = 0; i < ifnames.size(); ++i) {
    uint32_t ifindex = ifindex_of(ifnames[i], "interfaces[" + std::to_string(i) + "]");
    if (wanted_names.insert(ifnames[i]).second) wanted.emplace_back(ifnames[i], ifindex);
  }

  // Attach where the root program is not yet (or where the link is stale: the
  // interface was deleted and re-created). Undo every new attach on failure.
  std::map<std::string, Attachment> fresh;
  try {
    for (const auto& [name, ifindex] : wanted) {
      auto it = attachments_.find(name);
      if (it != attachments_.end() && it->second.link) {
        uint32_t link_ifindex = 0;
        std::string why;
        bool ok = xdp_link_ifindex(it->second.link.get(), link_ifindex, why);
        if (ok && link_ifindex == ifindex && it->second.ifindex == ifindex) continue;
        spdlog::info(
            "XDP chain: the root link of '{}' is stale (link ifindex {}, interface ifindex {}); replacing it",
            name, link_ifindex, ifindex);
        std::set<std::string> owners = it->second.owners;
        detach_root(name);
        Attachment replacement;
        replacement.owners = std::move(owners);
        attachments_.emplace(name, std::move(replacement));  // keeps its owners if the attach below fails
      }
      Attachment att;
      att.ifindex = ifindex;
      attach_root(name, att);
      fresh.emplace(name, std::move(att));
    }
  } catch (...) {
    for (auto& [name, att] : fresh) {
      bpf_link__unpin(att.link.get());
      att.link.reset();  // closes the only fd: detaches
      spdlog::info("XDP chain: undid the attach to '{}'", name);
    }
    throw;
  }

  // Commit.
  for (auto& [name, att] : fresh) {
    auto it = attachments_.find(name);
    if (it != attachments_.end()) att.owners = std::move(it->second.owners);
    attachments_[name] = std::move(att);
  }
  for (const auto& [name, ifindex] : wanted) attachments_[name].owners.insert(owner);
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
    out.push_back(XdpInterface{name, att.ifindex, att.owners});
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
