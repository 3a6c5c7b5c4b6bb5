#pragma once
// How a failed start undoes exactly what it acquired: each resource it takes
// (a pin created, a link attached, a chain slot filled, ...) pushes the
// cleanup that gives it back; if the start throws, the stack goes out of
// scope and runs them, latest first; a start that succeeds dismisses them.
//
//   UndoStack undo;
//   attach(...);
//   undo.push("the tc link of eth0", [&] { detach("eth0"); });
//   ...                  // a throw from here on detaches it
//   undo.dismiss();      // started: keep everything
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace adam {

class UndoStack {
 public:
  UndoStack() = default;
  ~UndoStack() { run(); }
  UndoStack(const UndoStack&) = delete;
  UndoStack& operator=(const UndoStack&) = delete;

  // `what` names the resource in the log line of a cleanup that fails.
  void push(std::string what, std::function<void()> cleanup) {
    steps_.push_back(Step{std::move(what), std::move(cleanup)});
  }
  // Keeps every resource pushed so far: nothing is undone.
  void dismiss() { steps_.clear(); }
  // Runs the cleanups now, latest first, and forgets them. A cleanup that
  // throws is logged (a warning naming its resource) and the others still run.
  void run() noexcept;
  bool empty() const { return steps_.empty(); }

 private:
  struct Step {
    std::string what;
    std::function<void()> cleanup;
  };
  std::vector<Step> steps_;
};

}  // namespace adam
