#pragma once
#include <string>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace tracker::pg {

// What a caller can do about an error: the one classification of PostgreSQL failures that every
// service uses (each decides what to do with each class, see classify()).
enum class Disposition {
  // The database's condition, not the request's: the connection broke or was refused, no answer
  // before the deadline, no pooled connection free, a serialization failure or deadlock (class
  // 40), the server short of resources or shutting down (classes 08, 53, 57, 58), a lock not
  // available (55P03). Waiting and trying again can succeed.
  retryable,
  // The request's data can never be stored as it is: a data exception (class 22, e.g. a NUL
  // character in text), an integrity constraint (class 23), a value over a limit (class 54).
  // Retrying cannot help; the input is refused (a dead letter, a failed job).
  data,
  // A deployment or programming error: a missing table or column, a missing privilege, a bad
  // statement, a misused API (classes 42, 28, 3D, 0A, 25, ...). Neither retrying soon nor other
  // data helps until someone acts.
  fatal,
};

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

[[nodiscard]] Disposition classify(const Error& error) noexcept;
[[nodiscard]] const char* to_string(Disposition disposition) noexcept;

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
