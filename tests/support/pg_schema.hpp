#pragma once
// A throw-away schema per test in the test database, so tests never see each other's rows.
#include <libpq-fe.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "environment.hpp"
#include "run.hpp"

namespace tracker::testing {

class ScratchSchema {
 public:
  ScratchSchema() : name_(unique_name("t")) { exec("CREATE SCHEMA " + name_); }
  ~ScratchSchema() {
    try {
      exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    } catch (...) {  // a leftover schema is harmless; a throwing destructor is not
    }
  }
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  // Runs SQL synchronously on a separate connection: for set-up and checks only.
  static std::string exec(const std::string& sql) {
    PGconn* conn = PQconnectdb(test_database_url().c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string message = PQerrorMessage(conn);
      PQfinish(conn);
      throw std::runtime_error("test database: " + message);
    }
    PGresult* result = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(result);
    std::string value;
    if (status == PGRES_TUPLES_OK && PQntuples(result) > 0) value = PQgetvalue(result, 0, 0);
    std::string error = PQresultErrorMessage(result);
    PQclear(result);
    PQfinish(conn);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("test SQL failed: " + error + " in: " + sql);
    }
    return value;
  }

 private:
  std::string name_;
};

// Stops the local stack's PostgreSQL for a test and starts it again however the test ends. A test
// using it is named PostgresqlDown..., which makes CTest run it alone (tests/CMakeLists.txt).
class DatabaseOutage {
 public:
  DatabaseOutage() { stack("pg-stop"); }
  ~DatabaseOutage() {
    try {
      restore();
    } catch (...) {  // the next test's set-up says so loudly
    }
  }
  DatabaseOutage(const DatabaseOutage&) = delete;
  DatabaseOutage& operator=(const DatabaseOutage&) = delete;
  void restore() {
    if (!down_) return;
    down_ = false;
    stack("pg-start");
  }

 private:
  static void stack(const char* command) {
    const std::string line = "bash '" + std::string(TRACKER_SOURCE_DIR) +
                             "/deploy/local/stack.sh' " + command + " >/dev/null 2>&1";
    if (std::system(line.c_str()) != 0) {
      throw std::runtime_error(std::string("stack.sh ") + command + " failed");
    }
  }
  bool down_ = true;
};

}  // namespace tracker::testing
