#pragma once
// Why a topic record could not be decoded: the one failure of every decoder in this library,
// returned as boost::system::result<T, DecodeError> (as pg returns pg::Result<T>). A record that
// does not decode goes to its topic's dead-letter topic with `reason` and `detail`.
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace tracker::messages {

struct DecodeError {
  // A stable word, safe as a metric label and kept in dead-letter records, e.g. invalid_json,
  // unknown_schema, missing_field, invalid_field (the slack-events envelope keeps its own
  // bad_json and bad_value).
  std::string reason;
  std::string detail;  // for people: names the field and what is wrong with it
};

template <typename T>
using DecodeResult = boost::system::result<T, DecodeError>;

class DecodeException : public std::runtime_error {
 public:
  explicit DecodeException(DecodeError error)
      : std::runtime_error(error.reason + ": " + error.detail), error_(std::move(error)) {}
  [[nodiscard]] const DecodeError& error() const noexcept { return error_; }

 private:
  DecodeError error_;
};

// Called by DecodeResult<T>::value() when it holds an error.
[[noreturn]] void throw_exception_from_error(const DecodeError& error,
                                             const boost::source_location& location);

}  // namespace tracker::messages
