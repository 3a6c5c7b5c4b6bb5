#include "core/pinned_link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "core/bpf_pins.h"

namespace adam {
namespace {

// The kernel's info on a BPF object fd (Info: bpf_prog_info, bpf_link_info);
// `kind` names the object in the error.
template <typename Info>
Info object_info(int fd, const char* kind) {
  Info info{};
  __u32 len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd, &info, &len); err)
    throw std::runtime_error(std::string("cannot read the info of a ") + kind + ": " + libbpf_error(err));
  return info;
}

bpf_prog_info prog_info(int prog_fd) { return object_info<bpf_prog_info>(prog_fd, "program"); }

std::string hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string tag_of(const bpf_prog_info& info) { return hex(info.tag, sizeof(info.tag)); }

// How the program of a link (info) differs from `expected`'s; "" when it does not.
std::string prog_difference(const bpf_link_info& info, const LinkExpectation& expected) {
  if (expected.prog_name.empty() && expected.prog_tag.empty()) return "";
  UniqueFd prog(bpf_prog_get_fd_by_id(info.prog_id));
  if (!prog) return "its program (id " + std::to_string(info.prog_id) + ") cannot be opened";
  const bpf_prog_info p = prog_info(prog.get());
  const std::string name = expected.prog_name.substr(0, BPF_OBJ_NAME_LEN - 1);
  if (!expected.prog_name.empty() && name != p.name)
    return "its program is '" + std::string(p.name) + "', not '" + name + "'";
  if (!expected.prog_tag.empty() && tag_of(p) != expected.prog_tag)
    return "its program '" + std::string(p.name) + "' has tag " + tag_of(p) + ", not " + expected.prog_tag;
  return "";
}

}  // namespace

BpfLinkPtr pin_new_link(BpfLinkPtr link, const std::string& path, const std::string& what) {
  ::unlink(path.c_str());  // a stale pin of a link that could not be adopted
  if (int err = bpf_link__pin(link.get(), path.c_str()); err)
    throw std::runtime_error("cannot pin " + what + " at " + path + ": " + libbpf_error(err));
  return link;
}

BpfLinkPtr pin_new_link(UniqueFd link_fd, const std::string& path, const std::string& what) {
  ::unlink(path.c_str());  // a stale pin of a link that could not be adopted
  if (bpf_obj_pin(link_fd.get(), path.c_str()) != 0)
    throw std::runtime_error("cannot pin " + what + " at " + path + ": " + libbpf_error(-errno));
  // libbpf makes a bpf_link of an fd only by opening a pin.
  BpfLinkPtr link(bpf_link__open(path.c_str()));
  if (!link) {
    const int err = -errno;
    ::unlink(path.c_str());
    throw std::runtime_error("cannot open the pin of " + what + " at " + path + ": " + libbpf_error(err));
  }
  return link;
}

bpf_link_info link_info(int link_fd) { return object_info<bpf_link_info>(link_fd, "link"); }

std::string link_type_name(uint32_t type) {
  const char* name = libbpf_bpf_link_type_str(static_cast<bpf_link_type>(type));
  return name ? name : "type " + std::to_string(type);
}

std::string prog_tag(int prog_fd) { return tag_of(prog_info(prog_fd)); }

BpfLinkPtr open_pinned_link(const std::string& path, const LinkExpectation& expected) {
  const UniqueFd fd = open_pinned_object(path, "link");
  if (!fd) return nullptr;
  const bpf_link_info info = link_info(fd.get());
  if (info.type != expected.type)
    throw PinMismatch("pinned link " + path + " is a " + link_type_name(info.type) + " link, not " +
                      link_type_name(expected.type));
  if (const std::string diff = prog_difference(info, expected); !diff.empty())
    throw PinMismatch("pinned " + link_type_name(info.type) + " link " + path + ": " + diff);
  BpfLinkPtr link(bpf_link__open(path.c_str()));
  if (!link) throw std::runtime_error("cannot open the pinned link " + path + ": " + libbpf_error(-errno));
  return link;
}

bool update_link_program(bpf_link* link, int prog_fd, const std::string& what) {
  const int err = bpf_link_update(bpf_link__fd(link), prog_fd, nullptr);
  if (err == -ENOLINK) return false;
  if (err) {
    bpf_link_info info{};  // for the message: the kind of link that refused (unspec if unreadable)
    __u32 len = sizeof(info);
    bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len);
    throw std::runtime_error("cannot swap the program of " + what + " (link type " +
                             link_type_name(info.type) + "): " + libbpf_error(err));
  }
  return true;
}

BpfLinkPtr replace_pinned_link(BpfLinkPtr pinned, BpfLinkPtr replacement, const std::string& what) {
  const char* pin = bpf_link__pin_path(pinned.get());
  if (!pin) throw std::runtime_error("cannot replace " + what + ": it is not pinned");
  const std::string path = pin;
  // Pinned beside the old pin, then renamed over it: bpffs renames
  // atomically (and refuses '.' in names).
  const std::string staged = path + "@new";
  ::unlink(staged.c_str());
  if (bpf_obj_pin(bpf_link__fd(replacement.get()), staged.c_str()) != 0)
    throw std::runtime_error("cannot pin the replacement of " + what + " at " + staged + ": " +
                             libbpf_error(-errno));
  if (::rename(staged.c_str(), path.c_str()) != 0) {
    const int err = -errno;
    ::unlink(staged.c_str());
    throw std::runtime_error("cannot move the replacement of " + what + " to " + path + ": " +
                             libbpf_error(err));
  }
  // The old link lost its pin to the rename: detaching it must not unlink.
  if (int err = bpf_link__detach(pinned.get()); err && err != -EOPNOTSUPP && err != -ENOLINK)
    spdlog::warn("cannot detach the replaced {}: {}", what, libbpf_error(err));
  // Its last fd: a link type without BPF_LINK_DETACH detaches once this and
  // the replaced pin's reference (dropped after an RCU grace period) are gone.
  pinned.reset();
  // The replacement's bpf_link, under the path it now has.
  BpfLinkPtr moved(bpf_link__open(path.c_str()));
  if (!moved)
    throw std::runtime_error("cannot open the pin of " + what + " at " + path + ": " + libbpf_error(-errno));
  return moved;
}

void detach_pinned_link(BpfLinkPtr link, const std::string& what) {
  if (!link) return;
  if (int err = bpf_link__unpin(link.get()); err && err != -EINVAL && err != -ENOENT)
    spdlog::warn("cannot unpin {}: {}", what, libbpf_error(err));
  // Perf event, raw tracepoint and tracing links have no BPF_LINK_DETACH:
  // they detach when the fd closes below and the kernel has dropped the
  // pin's reference (after an RCU grace period).
  if (int err = bpf_link__detach(link.get()); err && err != -ENOLINK && err != -EOPNOTSUPP)
    spdlog::warn("cannot detach {}: {}", what, libbpf_error(err));
}

}  // namespace adam
