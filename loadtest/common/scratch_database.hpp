#pragma once
// A blocking libpq connection for benchmark set-up and checks (never on a measured path).
#include <libpq-fe.h>

#include <optional>
#include <stdexcept>
#include <string>

namespace tracker::loadtest {

class Database {
 public:
  explicit Database(const std::string& url) : connection_(PQconnectdb(url.c_str())) {
    if (PQstatus(connection_) != CONNECTION_OK) {
      throw std::runtime_error(std::string("database: ") + PQerrorMessage(connection_));
    }
    // DROP SCHEMA ... CASCADE lists every table it drops otherwise.
    PQclear(PQexec(connection_, "SET client_min_messages = warning"));
  }
  ~Database() { PQfinish(connection_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // The first column of the first row, or nullopt on an error (a table not created yet).
  std::optional<std::string> value(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    std::optional<std::string> out;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
      out = PQgetvalue(result, 0, 0);
    } else if (PQresultStatus(result) == PGRES_COMMAND_OK) {
      out = "";
    }
    PQclear(result);
    return out;
  }

 private:
  PGconn* connection_;
};

}  // namespace tracker::loadtest
