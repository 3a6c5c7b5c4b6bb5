#include "core/undo.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace adam {

void UndoStack::run() noexcept {
  while (!steps_.empty()) {
    Step step = std::move(steps_.back());
    steps_.pop_back();
    try {
      step.cleanup();
    } catch (const std::exception& e) {
      spdlog::warn("undoing {} failed: {}", step.what, e.what());
    } catch (...) {
      spdlog::warn("undoing {} failed", step.what);
    }
  }
}

}  // namespace adam
