#pragma once
#include <string>

namespace tracker::testing {

// The value of an environment variable an integration test needs. Missing means the stack was
// not started: the test fails with a message saying how to start it (never skips).
std::string required_env(const char* name);

inline std::string kafka_brokers() {
  return required_env("KAFKA_BROKERS");
}
inline std::string test_database_url() {
  return required_env("TRACKER_TEST_DATABASE_URL");
}

}  // namespace tracker::testing
