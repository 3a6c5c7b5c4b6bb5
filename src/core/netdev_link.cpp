#include "core/netdev_link.h"

// <net/if.h> before the <linux/...> headers (linux/libc-compat.h then skips
// the duplicate definitions of linux/if.h).
#include <net/if.h>
// clang-format off
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
// clang-format on

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace adam {

BpfLinkPtr pin_new_link(UniqueFd link_fd, const std::string& path, const std::string& what) {
  ::unlink(path.c_str());  // a stale pin of a link that could not be adopted
  if (bpf_obj_pin(link_fd.get(), path.c_str()) != 0)
    throw std::runtime_error("cannot pin " + what + " at " + path + ": " + libbpf_error(-errno));
  BpfLinkPtr link(bpf_link__open(path.c_str()));
  if (!link) {
    const int err = -errno;
    ::unlink(path.c_str());
    throw std::runtime_error("cannot open the pin of " + what + " at " + path + ": " + libbpf_error(err));
  }
  return link;
}

bool netdev_link_ifindex(int link_fd, uint32_t link_type, const std::string& type_name, uint32_t& ifindex,
                         std::string& why) {
  bpf_link_info info{};
  __u32 len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(link_fd, &info, &len); err) {
    why = "cannot read its info: " + libbpf_error(err);
    return false;
  }
  if (info.type != link_type) {
    why = "link type " + std::to_string(info.type) + " is not " + type_name;
    return false;
  }
  // tcx's {ifindex, attach_type} is not in 6.1's uapi header, which names
  // that word `xdp.ifindex` only.
  ifindex = info.xdp.ifindex;
  return true;
}

std::vector<PinnedNetdevLink> adopt_pinned_netdev_links(const std::string& dir, const std::string& prefix,
                                                        uint32_t link_type, const std::string& type_name,
                                                        const std::string& log) {
  std::vector<std::string> pinned;  // listed first: re-pinning below changes the directory
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.starts_with(prefix)) pinned.push_back(file);
  }
  std::vector<PinnedNetdevLink> adopted;
  for (const std::string& file : pinned) {
    PinnedNetdevLink found{file.substr(prefix.size()), dir + "/" + file, 0, nullptr};
    found.link.reset(bpf_link__open(found.path.c_str()));
    std::string why = found.link ? "" : "cannot open it: " + libbpf_error(-errno);
    if (!found.link ||
        !netdev_link_ifindex(bpf_link__fd(found.link.get()), link_type, type_name, found.ifindex, why)) {
      spdlog::warn("{}: pinned {} cannot be adopted ({}); leaving it", log, found.path, why);
      continue;
    }
    if (found.ifindex == 0) {
      spdlog::info("{}: the interface of {} is gone; removing the stale pin", log, found.path);
      bpf_link__unpin(found.link.get());
      continue;
    }
    // The interface may have been renamed since: key it by its current name.
    char name_now[IF_NAMESIZE] = {};
    if (if_indextoname(found.ifindex, name_now) != nullptr && found.ifname != name_now &&
        if_nametoindex(found.ifname.c_str()) == 0) {
      const std::string new_path = dir + "/" + prefix + name_now;
      spdlog::info("{}: interface '{}' (ifindex {}) is now named '{}'", log, found.ifname, found.ifindex,
                   name_now);
      if (bpf_link__unpin(found.link.get()) == 0) {
        if (bpf_link__pin(found.link.get(), new_path.c_str()) == 0) {
          found.ifname = name_now;
          found.path = new_path;
        } else {
          spdlog::warn("{}: cannot re-pin {} as {}; keeping the old name", log, found.path, new_path);
          bpf_link__pin(found.link.get(), found.path.c_str());
        }
      }
    }
    adopted.push_back(std::move(found));
  }
  return adopted;
}

}  // namespace adam
