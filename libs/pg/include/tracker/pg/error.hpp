#pragma once
#include <string>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace tracker::pg {

struct Error {
  enum class Kind {
    connection,  // could not connect, or the connection broke: the connection is discarded
    query,       // the server rejected the statement; `sqlstate` says why
    timeout,     // no answer before the deadline: the connection is discarded
    pool,        // no connection became free before the acquire deadline
    usage,       // the caller misused the API (a statement name reused with other SQL, ...)
  };

  Kind kind = Kind::query;
  std::string sqlstate;  // five characters from the server, e.g. "23505"; empty otherwise
  std::string message;

  [[nodiscard]] bool unique_violation() const noexcept { return sqlstate == "23505"; }
  [[nodiscard]] bool serialization_failure() const noexcept { return sqlstate == "40001"; }
  [[nodiscard]] bool deadlock() const noexcept { return sqlstate == "40P01"; }
  // Worth running again in a new transaction.
  [[nodiscard]] bool transient() const noexcept { return serialization_failure() || deadlock(); }
  [[nodiscard]] std::string describe() const;
};

template <typename T>
using Result = boost::system::result<T, Error>;

class PgException : public std::runtime_error {
 public:
  explicit PgException(Error error)
      : std::runtime_error(error.describe()), error_(std::move(error)) {}
  [[nodiscard]] const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

// Called by Result<T>::value() when it holds an error.
[[noreturn]] void throw_exception_from_error(const Error& error,
                                             const boost::source_location& location);

}  // namespace tracker::pg
