#pragma once
// An EventStore on a fresh database in a temporary directory, removed after
// the test.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/database.h"
#include "store/event_store.h"

namespace adam::test {

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/adamt-events-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    db_ = std::make_unique<Database>(dir_ + "/adam.db");
    store_ = std::make_unique<EventStore>(*db_, "host-a");
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<EventStore> store_;
};

}  // namespace adam::test
