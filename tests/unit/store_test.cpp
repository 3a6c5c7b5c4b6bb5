// The SQLite store: migrations, tokens and desired state, on real database files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "store/database.h"
#include "store/desired_state.h"
#include "store/plugin_store.h"
#include "store/tokens.h"

namespace adam {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/adamt-store-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Database, NewFileGetsLatestSchemaAndWal) {
  TempDir dir;
  Database db(dir.file("adam.db"));
  EXPECT_EQ(db.schema_version(), schema_migrations().back().version);
  db.with([](SQLite::Database& d) {
    EXPECT_EQ(d.execAndGet("PRAGMA journal_mode").getString(), "wal");
    EXPECT_TRUE(d.tableExists("plugins"));
    EXPECT_TRUE(d.tableExists("tokens"));
  });
}

TEST(Database, ReopeningAppliesNothingTwice) {
  TempDir dir;
  { Database db(dir.file("adam.db")); }
  Database again(dir.file("adam.db"));
  EXPECT_EQ(again.schema_version(), schema_migrations().back().version);
}

TEST(Database, FailedMigrationLeavesFileUntouchedAndSaysWhich) {
  TempDir dir;
  const std::string path = dir.file("adam.db");
  {
    // A database at version 1 whose next migration cannot apply.
    SQLite::Database d(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    d.exec(
        "CREATE TABLE plugins(x); CREATE TABLE tokens(x); CREATE TABLE clash(y); PRAGMA user_version = 1;");
  }
  const std::string before = read_all(path);
  std::vector<Migration> migrations = schema_migrations();
  migrations.push_back(
      {migrations.back().version + 1, "add clash", "CREATE TABLE extra(z); CREATE TABLE clash(y);"});
  try {
    Database db(path, migrations);
    FAIL() << "migration should have failed";
  } catch (const MigrationError& e) {
    const std::string msg = e.what();
    const std::string which = "migration " + std::to_string(migrations.back().version) + " (add clash) failed";
    EXPECT_NE(msg.find(which), std::string::npos) << msg;
    EXPECT_NE(msg.find("clash already exists"), std::string::npos) << msg;
    EXPECT_NE(msg.find("left unchanged at version 1"), std::string::npos) << msg;
  }
  EXPECT_EQ(read_all(path), before) << "a failed migration must not change the file";
  SQLite::Database d(path, SQLite::OPEN_READONLY);
  EXPECT_FALSE(d.tableExists("extra")) << "the part that succeeded must be rolled back";
}

TEST(Database, RefusesNewerSchema) {
  TempDir dir;
  const std::string path = dir.file("adam.db");
  {
    SQLite::Database d(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    d.exec("PRAGMA user_version = 999");
  }
  EXPECT_THROW(Database db(path), MigrationError);
}

TEST(Database, GarbageFileIsAClearError) {
  TempDir dir;
  const std::string path = dir.file("adam.db");
  std::ofstream(path) << "this is not a database, just text that is long enough to be a header....";
  try {
    Database db(path);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
  }
}

TEST(Tokens, SecretIsStoredOnlyAsHashAndAuthenticates) {
  TempDir dir;
  Database db(dir.file("adam.db"));
  TokenStore tokens(db);
  NewToken t = tokens.create("ci-viewer", Role::viewer);
  EXPECT_EQ(t.secret.rfind("adam_", 0), 0u);
  EXPECT_EQ(t.secret.size(), 5u + 64u);
  db.with([&](SQLite::Database& d) {
    SQLite::Statement q(d, "SELECT hash FROM tokens WHERE id = ?");
    q.bind(1, static_cast<int64_t>(t.token.id));
    ASSERT_TRUE(q.executeStep());
    EXPECT_EQ(q.getColumn(0).getString(), sha256_hex(t.secret));
    EXPECT_EQ(d.execAndGet("SELECT count(*) FROM tokens WHERE hash LIKE '%adam_%'").getInt(), 0);
  });
  auto who = tokens.authenticate(t.secret);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->name, "ci-viewer");
  EXPECT_EQ(who->role, Role::viewer);
  EXPECT_FALSE(tokens.authenticate(t.secret + "x"));
  EXPECT_FALSE(tokens.authenticate(""));
}

TEST(Tokens, BadNamesAndDuplicatesAreRejected) {
  TempDir dir;
  Database db(dir.file("adam.db"));
  TokenStore tokens(db);
  tokens.create("ops", Role::admin);
  try {
    tokens.create("ops", Role::viewer);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "has space", std::string(65, 'a'), "-dash-first"}) {
    try {
      tokens.create(bad, Role::viewer);
      FAIL() << bad;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.field(), "name");
    }
  }
  EXPECT_EQ(tokens.list().size(), 1u);
}

TEST(Tokens, AdminTokenFileIsWrittenOnceWithMode0600) {
  TempDir dir;
  Database db(dir.file("adam.db"));
  TokenStore tokens(db);
  const std::string path = dir.file("admin.token");
  EXPECT_TRUE(tokens.ensure_admin_token(path));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string secret = read_all(path);
  secret.pop_back();  // newline
  auto who = tokens.authenticate(secret);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->role, Role::admin);
  EXPECT_FALSE(tokens.ensure_admin_token(path)) << "an admin token exists: nothing to write";
  EXPECT_EQ(read_all(path), secret + "\n");
}

TEST(Tokens, LastAdminCannotBeRemoved) {
  TempDir dir;
  Database db(dir.file("adam.db"));
  TokenStore tokens(db);
  NewToken a = tokens.create("a", Role::admin);
  NewToken b = tokens.create("b", Role::admin);
  tokens.remove(a.token.id);
  try {
    tokens.remove(b.token.id);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  try {
    tokens.remove(12345);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
  }
  EXPECT_TRUE(tokens.authenticate(b.secret));
  EXPECT_FALSE(tokens.authenticate(a.secret));
}

TEST(PluginStore, DocumentsHaveStableNeverReusedIdsAndTransactionsRollBack) {
  TempDir dir;
  Database db(dir.file("adam.db"));
  PluginStore fw(db, "firewall");
  PluginStore other(db, "lb");
  const int64_t a = fw.transaction([](PluginStore::Tx& tx) { return tx.insert("rule", R"({"n":1})"); });
  const int64_t b = fw.transaction([](PluginStore::Tx& tx) { return tx.insert("rule", R"({"n":2})"); });
  EXPECT_LT(a, b);
  fw.transaction([&](PluginStore::Tx& tx) { tx.remove("rule", b); });
  const int64_t c = fw.transaction([](PluginStore::Tx& tx) { return tx.insert("rule", R"({"n":3})"); });
  EXPECT_GT(c, b) << "a deleted id is never handed out again";
  EXPECT_TRUE(other.list("rule").empty()) << "plugins do not see each other's documents";
  EXPECT_THROW(other.transaction([&](PluginStore::Tx& tx) { tx.put("rule", a, "{}"); }), std::invalid_argument);

  EXPECT_THROW(fw.transaction([&](PluginStore::Tx& tx) {
    tx.remove_all("rule");
    tx.set_setting("default", "drop");
    throw std::runtime_error("kernel refused");
  }),
               std::runtime_error);
  EXPECT_EQ(fw.list("rule").size(), 2u) << "a failed transaction changes nothing";
  EXPECT_FALSE(fw.setting("default"));
  fw.transaction([](PluginStore::Tx& tx) { tx.set_setting("default", "drop"); });
  EXPECT_EQ(fw.setting("default"), "drop");
  EXPECT_EQ(fw.get("rule", a)->body, R"({"n":1})");
}

TEST(DesiredState, RoundTrips) {
  TempDir dir;
  Database db(dir.file("adam.db"));
  DesiredStateStore store(db);
  EXPECT_FALSE(store.get("firewall"));
  store.set("firewall", {true, R"({"interfaces":["eth0"]})"});
  auto got = store.get("firewall");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->running);
  EXPECT_EQ(got->config_json, R"({"interfaces":["eth0"]})");
  store.set("firewall", {false, "{}"});
  EXPECT_FALSE(store.get("firewall")->running);
}

}  // namespace
}  // namespace adam
