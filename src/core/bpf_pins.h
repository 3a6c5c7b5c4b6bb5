#pragma once
// BPF maps and programs pinned in bpffs, so that what a plugin loaded goes on
// working while adamd is down and a restarted adamd takes it over: a
// plugin's maps adopted from its pin dir (or replaced when this build's
// layout differs), and pinned objects opened by path with their type checked.
// Pinned links: core/pinned_link.h.
#include <linux/bpf.h>

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/bpf_handle.h"

struct bpf_map;
struct bpf_object;

namespace adam {

// A pin that exists but is not what the caller expects (another kind of
// object, type or layout): the message names the path and what differs.
class PinMismatch : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where adopt_or_replace_map_pins() pins `map`: <dir>/<map name>, a '.'
// (bpffs refuses it; libbpf's .rodata, .bss and .data maps have one) as '_',
// as libbpf's own pin paths have it.
std::string map_pin_path(const std::string& dir, const bpf_map* map);

// Points every map of `obj` (opened, not yet loaded: a skeleton's `obj`)
// except those in `excluded` at its pin in `dir`: the load then reuses a
// pinned map, or creates one and pins it. A plugin's maps only make sense
// together, so they are adopted all or none: when every existing pin has its
// map's layout (type, key and value size, max_entries, flags) they are all
// adopted; if any differs, every pin is removed and all maps are created anew
// (logged, naming `owner` and the pin). Returns the pins the load will create,
// so that a failed start removes exactly those. Throws std::runtime_error
// when a pin path cannot be set.
std::vector<std::string> adopt_or_replace_map_pins(bpf_object* obj, const std::string& dir,
                                                   std::span<const bpf_map* const> excluded,
                                                   const std::string& owner);

// Removes the pins at `paths` (those adopt_or_replace_map_pins() returned:
// the undo of a failed start); a pin already gone is no error. Throws
// std::runtime_error naming the first pin that cannot be removed.
void remove_pins(std::span<const std::string> paths);

// Opens the map pinned at `path`, checked against `expected` (a map of an
// opened skeleton: the layout this build expects). Returns an empty fd when
// nothing is pinned there; throws PinMismatch when the pin is not such a
// map, std::runtime_error when it cannot be opened.
UniqueFd open_pinned_map(const std::string& path, const bpf_map* expected);

// Opens the program pinned at `path`, checked to be of `type`, as
// open_pinned_map() does.
UniqueFd open_pinned_prog(const std::string& path, bpf_prog_type type);

// Opens what is pinned at `path`, checked to be a BPF object of `kind`
// ("map", "program" or "link"), before its info is read as such. Returns an
// empty fd when nothing is pinned there; throws PinMismatch for another kind
// of object, std::runtime_error when the pin cannot be opened.
UniqueFd open_pinned_object(const std::string& path, const std::string& kind);

}  // namespace adam
