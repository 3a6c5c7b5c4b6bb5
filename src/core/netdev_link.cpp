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

#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace adam {

std::optional<uint32_t> netdev_link_ifindex(int link_fd, uint32_t link_type) {
  bpf_link_info info{};
  try {
    info = link_info(link_fd);
  } catch (const std::runtime_error&) {
    return std::nullopt;
  }
  if (info.type != link_type) return std::nullopt;
  // tcx's {ifindex, attach_type} is not in 6.1's uapi header, which names
  // that word `xdp.ifindex` only.
  return info.xdp.ifindex;
}

std::vector<PinnedNetdevLink> adopt_pinned_netdev_links(const std::string& dir, const std::string& prefix,
                                                        uint32_t link_type, const std::string& log) {
  std::vector<std::string> pinned;  // listed first: re-pinning below changes the directory
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.starts_with(prefix)) pinned.push_back(file);
  }
  std::vector<PinnedNetdevLink> adopted;
  for (const std::string& file : pinned) {
    PinnedNetdevLink found{file.substr(prefix.size()), dir + "/" + file, 0, nullptr};
    try {
      found.link = open_pinned_link(found.path, LinkExpectation{.type = link_type});
      if (found.link)
        found.ifindex = netdev_link_ifindex(bpf_link__fd(found.link.get()), link_type).value_or(0);
    } catch (const std::runtime_error& e) {
      spdlog::warn("{}: {}; leaving it", log, e.what());
      continue;
    }
    if (!found.link) continue;  // gone since the listing
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
