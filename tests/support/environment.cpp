#include "environment.hpp"

#include <cstdlib>
#include <stdexcept>

namespace tracker::testing {

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(std::string(name) +
                             " is not set: start the local stack with deploy/local/stack.sh up "
                             "and eval \"$(deploy/local/stack.sh env)\", or run scripts/test.sh");
  }
  return value;
}

}  // namespace tracker::testing
