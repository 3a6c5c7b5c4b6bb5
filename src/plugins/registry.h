#pragma once
// Every plugin this adamd build ships (one line each in registry.cpp's list),
// and register_plugin(), through which a test adds a plugin of its own to
// that same list.
#include <functional>
#include <memory>
#include <vector>

#include "core/plugin.h"

namespace adam {

using PluginFactory = std::function<std::unique_ptr<Plugin>(PluginContext&)>;

template <typename P>
std::unique_ptr<Plugin> make_plugin(PluginContext& ctx) {
  return std::make_unique<P>(ctx);
}

// Adds a plugin to those make_plugins() makes, after the built-in ones and
// those added before.
void register_plugin(PluginFactory factory);

// One of each registered plugin, the built-in ones first, in the order the
// API lists them.
std::vector<std::unique_ptr<Plugin>> make_plugins(PluginContext& ctx);

}  // namespace adam
