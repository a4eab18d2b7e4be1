#pragma once
// Numbered SQL migrations (schemas/migrations/0001_name.sql, ...), each applied exactly once per
// schema. Runners started together (several replicas booting at once) serialise on a
// transaction-scoped advisory lock; the one that gets it second finds the work done. Each
// applied migration is recorded with a SHA-256 of its text, and a recorded migration whose file
// has since changed stops the runner: editing history is a bug, a new number is the fix.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/pg/connection.hpp>

namespace tracker::pg {

struct Migration {
  int version = 0;
  std::string name;  // from the file name: 0003_add_summaries.sql -> "add_summaries"
  std::string sql;
  [[nodiscard]] std::string checksum() const;  // hex SHA-256 of sql
};

// Parses "0001_name.sql"; throws std::invalid_argument with the file name when malformed.
Migration parse_migration(const std::string& file_name, std::string sql);

// Reads every *.sql file of `directory`, sorted by version; throws std::invalid_argument on a
// malformed name or a duplicate version.
std::vector<Migration> load_migrations(const std::filesystem::path& directory);

struct MigrationOptions {
  std::string schema = "public";  // created if missing; migrations run with it as search_path
  std::chrono::milliseconds lock_timeout{60'000};
  std::chrono::milliseconds statement_timeout{600'000};
};

struct MigrationReport {
  std::vector<int> applied;          // applied by this run, in order
  std::vector<int> already_applied;  // found recorded
  std::vector<int> unknown;          // recorded in the database but not known to this build
};

// No default for `options`: a defaulted aggregate argument inside co_await is a braced
// temporary, which GCC 12 destroys twice.
asio::awaitable<Result<MigrationReport>> migrate(Connection& connection,
                                                 const std::vector<Migration>& migrations,
                                                 MigrationOptions options);

}  // namespace tracker::pg
