#include <tracker/pg/migrations.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace tracker::pg {

namespace {

// Restores the connection's own statement deadline however migrate() leaves.
class QueryTimeoutScope {
 public:
  QueryTimeoutScope(Connection& connection, std::chrono::milliseconds timeout)
      : connection_(connection), saved_(connection.query_timeout()) {
    connection_.set_query_timeout(timeout);
  }
  ~QueryTimeoutScope() { connection_.set_query_timeout(saved_); }
  QueryTimeoutScope(const QueryTimeoutScope&) = delete;
  QueryTimeoutScope& operator=(const QueryTimeoutScope&) = delete;

 private:
  Connection& connection_;
  std::chrono::milliseconds saved_;
};

constexpr const char* kCreateLedger = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

asio::awaitable<Result<MigrationReport>> migrate_in_transaction(
    Connection& connection, const std::vector<Migration>& migrations,
    const MigrationOptions& options) {
  // One lock per schema: runners of different schemas (tests) do not wait on each other.
  if (auto locked = co_await connection.query(
          "SELECT pg_advisory_xact_lock(hashtext('study-tracker.migrations:' || $1::text))",
          Params{options.schema});
      !locked) {
    co_return locked.error();
  }
  auto schema = connection.quote_identifier(options.schema);
  if (!schema) co_return schema.error();
  if (auto created = co_await connection.query("CREATE SCHEMA IF NOT EXISTS " + *schema);
      !created) {
    co_return created.error();
  }
  if (auto path =
          co_await connection.query("SELECT set_config('search_path', $1, true)", Params{*schema});
      !path) {
    co_return path.error();
  }
  if (auto ledger = co_await connection.query(kCreateLedger); !ledger) co_return ledger.error();

  auto recorded =
      co_await connection.query("SELECT version, name, checksum FROM schema_migrations");
  if (!recorded) co_return recorded.error();
  std::map<int, std::string> checksums;
  for (int row = 0; row < recorded->size(); ++row) {
    checksums.emplace(recorded->get<int>(row, 0), recorded->get<std::string>(row, 2));
  }

  MigrationReport report;
  std::set<int> known;
  for (const auto& migration : migrations) {
    known.insert(migration.version);
    auto found = checksums.find(migration.version);
    if (found != checksums.end()) {
      if (found->second != migration.checksum()) {
        co_return Error{Error::Kind::usage, "",
                        "migration " + std::to_string(migration.version) + " (" + migration.name +
                            ") changed after it was applied; add a new migration instead"};
      }
      report.already_applied.push_back(migration.version);
      continue;
    }
    if (auto applied = co_await connection.execute_script(migration.sql); !applied) {
      Error error = applied.error();
      error.message = "migration " + std::to_string(migration.version) + " (" + migration.name +
                      "): " + error.message;
      co_return error;
    }
    if (auto noted = co_await connection.query(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            Params{migration.version, migration.name, migration.checksum()});
        !noted) {
      co_return noted.error();
    }
    report.applied.push_back(migration.version);
  }
  for (const auto& [version, checksum] : checksums) {
    if (!known.contains(version)) report.unknown.push_back(version);
  }
  co_return report;
}

}  // namespace

std::string Migration::checksum() const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(sql.data(), sql.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4U]);
    out.push_back(kHex[digest[i] & 0x0FU]);
  }
  return out;
}

Migration parse_migration(const std::string& file_name, std::string sql) {
  const auto underscore = file_name.find('_');
  const bool has_suffix = file_name.size() > 4 && file_name.ends_with(".sql");
  int version = 0;
  const char* end = file_name.data() + (underscore == std::string::npos ? 0 : underscore);
  const auto parsed = std::from_chars(file_name.data(), end, version);
  if (underscore == std::string::npos || underscore == 0 || !has_suffix ||
      parsed.ec != std::errc{} || parsed.ptr != end || version <= 0 ||
      underscore + 1 >= file_name.size() - 4) {
    throw std::invalid_argument("migration file " + file_name +
                                ": expected NNNN_name.sql with a positive number");
  }
  return Migration{version, file_name.substr(underscore + 1, file_name.size() - 4 - underscore - 1),
                   std::move(sql)};
}

std::vector<Migration> load_migrations(const std::filesystem::path& directory) {
  std::vector<Migration> out;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".sql") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    out.push_back(parse_migration(entry.path().filename().string(), text.str()));
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      throw std::invalid_argument("two migrations numbered " + std::to_string(out[i].version) +
                                  " in " + directory.string());
    }
  }
  return out;
}

asio::awaitable<Result<MigrationReport>> migrate(Connection& connection,
                                                 const std::vector<Migration>& migrations,
                                                 MigrationOptions options) {
  QueryTimeoutScope scope(connection, options.statement_timeout);
  if (auto begun = co_await connection.query("BEGIN"); !begun) co_return begun.error();
  if (auto limited =
          // The connection's server-side statement_timeout is meant for ordinary queries; a
          // migration (or the wait for another runner's lock) gets the migration limits.
      co_await connection.query("SELECT set_config('lock_timeout', $1, true), "
                                "set_config('statement_timeout', $2, true)",
                                Params{std::to_string(options.lock_timeout.count()) + "ms",
                                       std::to_string(options.statement_timeout.count()) + "ms"});
      !limited) {
    static_cast<void>(co_await connection.query("ROLLBACK"));
    co_return limited.error();
  }
  auto report = co_await migrate_in_transaction(connection, migrations, options);
  if (!report) {
    static_cast<void>(co_await connection.query("ROLLBACK"));
    co_return report.error();
  }
  if (auto committed = co_await connection.query("COMMIT"); !committed) {
    co_return committed.error();
  }
  co_return report;
}

}  // namespace tracker::pg
