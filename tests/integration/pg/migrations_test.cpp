#include <gtest/gtest.h>

#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <tracker/pg/connection.hpp>
#include <tracker/pg/migrations.hpp>
#include <tracker/schema/migrations.hpp>

#include "pg_schema.hpp"

extern char** environ;

namespace asio = boost::asio;
using tracker::pg::Connection;
using tracker::pg::Migration;
using tracker::pg::MigrationReport;
using tracker::pg::Result;
using tracker::testing::run;
using tracker::testing::ScratchSchema;
using tracker::testing::test_database_url;

namespace {

std::vector<Migration> sample() {
  return {
      tracker::pg::parse_migration("0001_people.sql", "CREATE TABLE people (id int PRIMARY KEY);"),
      tracker::pg::parse_migration("0002_seed.sql",
                                   "INSERT INTO people VALUES (1); INSERT INTO people VALUES (2);"),
      tracker::pg::parse_migration(
          "0003_slow.sql", "SELECT pg_sleep(0.3); ALTER TABLE people ADD COLUMN name text;")};
}

struct Migrations : ::testing::Test {
  asio::io_context io;
  ScratchSchema scratch;
  // Each runner migrates into its own schema: a fresh one per test.
  std::string target = tracker::testing::unique_name("m");

  ~Migrations() override { ScratchSchema::exec("DROP SCHEMA IF EXISTS " + target + " CASCADE"); }

  asio::awaitable<Result<MigrationReport>> migrate_once(std::vector<Migration> migrations) {
    const tracker::pg::ConnectOptions connect_options{.conninfo = test_database_url()};
    auto connection =
        co_await Connection::connect(co_await asio::this_coro::executor, connect_options);
    if (!connection) co_return connection.error();
    const tracker::pg::MigrationOptions migration_options{.schema = target};
    co_return co_await tracker::pg::migrate(**connection, migrations, migration_options);
  }
  std::string scalar(const std::string& sql) {
    return ScratchSchema::exec("SET search_path TO " + target + "; " + sql);
  }
};

}  // namespace

TEST_F(Migrations, AppliesEachOnceAndRecordsIt) {
  auto first = run(io, migrate_once(sample()));
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(first->applied, (std::vector<int>{1, 2, 3}));
  auto second = run(io, migrate_once(sample()));
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_TRUE(second->applied.empty());
  EXPECT_EQ(second->already_applied, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(scalar("SELECT count(*) FROM people"), "2") << "the seed ran twice";
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), "3");
}

TEST_F(Migrations, TwoRunnersStartedTogetherApplyEachMigrationOnce) {
  std::vector<Result<MigrationReport>> reports;
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(io, migrate_once(sample()),
                   [&](std::exception_ptr e, Result<MigrationReport> r) {
                     if (e) std::rethrow_exception(e);
                     reports.push_back(std::move(r));
                   });
  }
  io.run_for(std::chrono::seconds(60));
  ASSERT_EQ(reports.size(), 2U);
  ASSERT_TRUE(reports[0]) << reports[0].error().describe();
  ASSERT_TRUE(reports[1]) << reports[1].error().describe();
  EXPECT_EQ(reports[0]->applied.size() + reports[1]->applied.size(), 3U);
  EXPECT_EQ(scalar("SELECT count(*) FROM people"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), "3");
}

TEST_F(Migrations, TwoProcessesStartedTogetherApplyTheBundledMigrationsOnce) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    // The first definition wins in getenv: drop the caller's database settings.
    if (entry.rfind("DATABASE_URL=", 0) == 0 || entry.rfind("TRACKER_DB_SCHEMA=", 0) == 0) continue;
    env_strings.push_back(entry);
  }
  env_strings.push_back("DATABASE_URL=" + test_database_url());
  env_strings.push_back("TRACKER_DB_SCHEMA=" + target);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = TRACKER_MIGRATE_BINARY;
  std::vector<char*> argv = {binary.data(), nullptr};
  pid_t pids[2];
  for (auto& pid : pids) {
    ASSERT_EQ(posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);
  }
  for (auto pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "tracker-migrate failed";
  }
  const auto& bundled = tracker::schema::migrations();
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), std::to_string(bundled.size()));
  EXPECT_EQ(scalar("SELECT count(DISTINCT version) FROM schema_migrations"),
            std::to_string(bundled.size()));
  EXPECT_EQ(scalar("SELECT count(*) FROM study_logs"), "0");
}

TEST_F(Migrations, EditedMigrationStopsTheRunner) {
  ASSERT_TRUE(run(io, migrate_once(sample())));
  auto edited = sample();
  edited[0] = tracker::pg::parse_migration("0001_people.sql",
                                           "CREATE TABLE people (id bigint PRIMARY KEY);");
  auto result = run(io, migrate_once(edited));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("migration 1 (people) changed after it was applied"),
            std::string::npos)
      << result.error().describe();
}

TEST_F(Migrations, FailingMigrationLeavesNothingBehind) {
  auto broken = sample();
  broken.push_back(
      tracker::pg::parse_migration("0004_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;"));
  auto result = run(io, migrate_once(broken));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("migration 4 (broken)"), std::string::npos)
      << result.error().describe();
  EXPECT_EQ(
      ScratchSchema::exec("SELECT count(*) FROM information_schema.tables WHERE table_schema = '" +
                          target + "'"),
      "0");
}

TEST_F(Migrations, RecordedMigrationUnknownToThisBuildIsReported) {
  ASSERT_TRUE(run(io, migrate_once(sample())));
  auto older = sample();
  older.pop_back();
  auto result = run(io, migrate_once(older));
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->unknown, (std::vector<int>{3}));
}
