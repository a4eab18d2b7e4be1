#include "run.hpp"

#include <unistd.h>

#include <atomic>
#include <random>

namespace tracker::testing {

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const auto salt = std::random_device{}() % 100000U;
  return prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(salt) + "_" +
         std::to_string(counter.fetch_add(1));
}

}  // namespace tracker::testing
