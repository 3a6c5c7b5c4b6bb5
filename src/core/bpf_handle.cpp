#include "core/bpf_handle.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

#include <stdexcept>

namespace adam {

std::string libbpf_error(int err) {
  if (err < 0) err = -err;
  char buf[256] = {};
  // Knows libbpf's own codes (LIBBPF_ERRNO__*) as well as plain errno values.
  if (libbpf_strerror(err, buf, sizeof buf) == 0 && buf[0] != '\0') return buf;
  char fallback[256];
  return ::strerror_r(err, fallback, sizeof fallback);  // GNU variant: returns the text
}

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

BpfLinkPtr open_pinned_netdev_link(const std::string& path, uint32_t link_type, const std::string& type_name,
                                   uint32_t& ifindex, std::string& why) {
  BpfLinkPtr link(bpf_link__open(path.c_str()));
  if (!link) {
    why = "cannot open it: " + libbpf_error(-errno);
    return nullptr;
  }
  if (!netdev_link_ifindex(bpf_link__fd(link.get()), link_type, type_name, ifindex, why)) return nullptr;
  return link;
}

}  // namespace adam
