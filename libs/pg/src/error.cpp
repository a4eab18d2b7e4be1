#include <tracker/pg/error.hpp>

namespace tracker::pg {

std::string Error::describe() const {
  std::string kind_name;
  switch (kind) {
    case Kind::connection:
      kind_name = "connection";
      break;
    case Kind::query:
      kind_name = "query";
      break;
    case Kind::timeout:
      kind_name = "timeout";
      break;
    case Kind::pool:
      kind_name = "pool";
      break;
    case Kind::usage:
      kind_name = "usage";
      break;
  }
  std::string out = "postgresql " + kind_name + " error";
  if (!sqlstate.empty()) out += " [" + sqlstate + "]";
  return out + ": " + message;
}

void throw_exception_from_error(const Error& error, const boost::source_location& /*location*/) {
  throw PgException(error);
}

}  // namespace tracker::pg
