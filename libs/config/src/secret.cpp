#include <tracker/config/secret.hpp>

#include <ostream>

namespace tracker::config {

std::ostream& operator<<(std::ostream& os, const Secret& /*secret*/) {
  return os << "[redacted]";
}

}  // namespace tracker::config
