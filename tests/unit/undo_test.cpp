// UndoStack (core/undo.h): what a failed start acquired is given back, latest
// first, and nothing once the start succeeded.
#include "core/undo.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace adam {
namespace {

TEST(UndoStack, AFailedStartUndoesInReverseOrder) {
  std::vector<std::string> undone;
  try {
    UndoStack undo;
    undo.push("the pin", [&] { undone.push_back("pin"); });
    undo.push("the link", [&] { undone.push_back("link"); });
    undo.push("the slot", [&] { undone.push_back("slot"); });
    throw std::runtime_error("attach failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(undone, (std::vector<std::string>{"slot", "link", "pin"}));
}

TEST(UndoStack, ASuccessfulStartKeepsEverything) {
  std::vector<std::string> undone;
  {
    UndoStack undo;
    undo.push("the pin", [&] { undone.push_back("pin"); });
    undo.dismiss();
    EXPECT_TRUE(undo.empty());
  }
  EXPECT_TRUE(undone.empty());
}

TEST(UndoStack, ACleanupThatThrowsDoesNotStopTheOthers) {
  std::vector<std::string> undone;
  UndoStack undo;
  undo.push("the pin", [&] { undone.push_back("pin"); });
  undo.push("the link", [] { throw std::runtime_error("already detached"); });
  undo.push("the slot", [&] { undone.push_back("slot"); });
  undo.run();
  EXPECT_EQ(undone, (std::vector<std::string>{"slot", "pin"}));
  EXPECT_TRUE(undo.empty());
  undo.run();  // nothing twice
  EXPECT_EQ(undone.size(), 2u);
}

}  // namespace
}  // namespace adam
