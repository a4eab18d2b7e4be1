#include <tracker/pg/error.hpp>

#include <string_view>

namespace tracker::pg {

std::string Error::describe() const {
  std::string kind_name;
  switch (kind) {
    case Kind::connection: kind_name = "connection"; break;
    case Kind::query: kind_name = "query"; break;
    case Kind::timeout: kind_name = "timeout"; break;
    case Kind::pool: kind_name = "pool"; break;
    case Kind::usage: kind_name = "usage"; break;
  }
  std::string out = "postgresql " + kind_name + " error";
  if (!sqlstate.empty()) out += " [" + sqlstate + "]";
  return out + ": " + message;
}

Disposition classify(const Error& error) noexcept {
  switch (error.kind) {
    case Error::Kind::connection:
    case Error::Kind::timeout:
    case Error::Kind::pool: return Disposition::retryable;
    case Error::Kind::usage: return Disposition::fatal;
    case Error::Kind::query: break;
  }
  const std::string_view state = error.sqlstate;
  // A failure libpq reports without a state (the answer was lost on the way) is the
  // connection's, not the statement's.
  if (state.size() != 5) return Disposition::retryable;
  const std::string_view error_class = state.substr(0, 2);
  if (error_class == "22" || error_class == "23" || error_class == "54") return Disposition::data;
  if (error_class == "08" || error_class == "40" || error_class == "53" || error_class == "57" ||
      error_class == "58" || state == "55P03") {
    return Disposition::retryable;
  }
  return Disposition::fatal;
}

const char* to_string(Disposition disposition) noexcept {
  switch (disposition) {
    case Disposition::retryable: return "retryable";
    case Disposition::data: return "data";
    case Disposition::fatal: return "fatal";
  }
  return "fatal";
}

void throw_exception_from_error(const Error& error, const boost::source_location& /*location*/) {
  throw PgException(error);
}

}  // namespace tracker::pg
