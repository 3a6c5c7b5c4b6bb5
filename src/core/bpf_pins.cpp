#include "core/bpf_pins.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace adam {
namespace {

// What a BPF object fd is, by the kernel's name of its anon inode: bpf-map,
// bpf-prog, and bpf_link for a link just made but bpf-link for one opened
// from its pin; "" for any other fd.
std::string bpf_fd_kind(int fd) {
  char target[64] = {};
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
  const std::string name(target, n > 0 ? static_cast<size_t>(n) : 0);
  if (name == "anon_inode:bpf-map") return "map";
  if (name == "anon_inode:bpf-prog") return "program";
  if (name == "anon_inode:bpf_link" || name == "anon_inode:bpf-link") return "link";
  return "";
}

std::string map_type_name(uint32_t type) {
  const char* name = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(type));
  return name ? name : "type " + std::to_string(type);
}

// What differs between the layout of the map behind `fd` and `expected`'s;
// "" when nothing does.
std::string map_layout_difference(int fd, const bpf_map* expected) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd, &info, &len); err)
    return "its info cannot be read: " + libbpf_error(err);
  std::string diff;
  auto differs = [&diff](const std::string& what, const std::string& actual, const std::string& wanted) {
    if (actual == wanted) return;
    diff += (diff.empty() ? "" : ", ") + what + " " + actual + " (this build: " + wanted + ")";
  };
  differs("type", map_type_name(info.type), map_type_name(bpf_map__type(expected)));
  differs("key size", std::to_string(info.key_size), std::to_string(bpf_map__key_size(expected)));
  differs("value size", std::to_string(info.value_size), std::to_string(bpf_map__value_size(expected)));
  differs("max_entries", std::to_string(info.max_entries), std::to_string(bpf_map__max_entries(expected)));
  differs("flags", std::to_string(info.map_flags), std::to_string(bpf_map__map_flags(expected)));
  return diff;
}

}  // namespace

UniqueFd open_pinned_object(const std::string& path, const std::string& kind) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (fd.get() == -ENOENT) return UniqueFd();
  if (!fd) throw std::runtime_error("cannot open the pin " + path + ": " + libbpf_error(fd.get()));
  if (const std::string actual = bpf_fd_kind(fd.get()); actual != kind)
    throw PinMismatch("pin " + path + " is a " + (actual.empty() ? "non-BPF file" : actual) + ", not a " +
                      kind);
  return fd;
}

std::string map_pin_path(const std::string& dir, const bpf_map* map) {
  std::string name = bpf_map__name(map);
  std::replace(name.begin(), name.end(), '.', '_');  // bpffs refuses '.' in names
  return dir + "/" + name;
}

std::vector<std::string> adopt_or_replace_map_pins(bpf_object* obj, const std::string& dir,
                                                   std::span<const bpf_map* const> excluded,
                                                   const std::string& owner) {
  struct Pin {
    bpf_map* map;
    std::string path;
    bool exists;
  };
  std::vector<Pin> pins;
  std::string mismatch;  // the first pin that differs, and how
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (std::find(excluded.begin(), excluded.end(), map) != excluded.end()) continue;
    Pin pin{map, map_pin_path(dir, map), false};
    try {
      pin.exists = static_cast<bool>(open_pinned_map(pin.path, map));
    } catch (const PinMismatch& e) {
      pin.exists = true;
      if (mismatch.empty()) mismatch = e.what();
    }
    pins.push_back(std::move(pin));
  }
  if (!mismatch.empty()) {
    spdlog::warn("{}: {}; replacing every pinned map of {} in {} (its state starts afresh)", owner, mismatch,
                 owner, dir);
  }
  std::vector<std::string> created;
  for (Pin& pin : pins) {
    if (pin.exists && !mismatch.empty()) {
      remove_pins(std::span(&pin.path, 1));
      pin.exists = false;
    }
    if (!pin.exists) created.push_back(pin.path);
    if (int err = bpf_map__set_pin_path(pin.map, pin.path.c_str()); err)
      throw std::runtime_error("cannot set the pin path " + pin.path + ": " + libbpf_error(err));
  }
  return created;
}

void remove_pins(std::span<const std::string> paths) {
  for (const std::string& path : paths)
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw std::runtime_error("cannot remove the pin " + path + ": " + libbpf_error(-errno));
}

UniqueFd open_pinned_map(const std::string& path, const bpf_map* expected) {
  UniqueFd fd = open_pinned_object(path, "map");
  if (!fd) return fd;
  if (const std::string diff = map_layout_difference(fd.get(), expected); !diff.empty())
    throw PinMismatch("pinned map " + path + " has another layout: " + diff);
  return fd;
}

UniqueFd open_pinned_prog(const std::string& path, bpf_prog_type type) {
  UniqueFd fd = open_pinned_object(path, "program");
  if (!fd) return fd;
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd.get(), &info, &len); err)
    throw std::runtime_error("cannot read the info of pinned program " + path + ": " + libbpf_error(err));
  if (info.type != static_cast<__u32>(type)) {
    const char* actual = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(info.type));
    const char* wanted = libbpf_bpf_prog_type_str(type);
    throw PinMismatch("pinned program " + path + " is of type " +
                      (actual ? actual : std::to_string(info.type)) + ", not " +
                      (wanted ? wanted : std::to_string(type)));
  }
  return fd;
}

}  // namespace adam
