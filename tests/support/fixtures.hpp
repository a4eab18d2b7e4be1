#pragma once
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace tracker::testing {

// The text of tests/data/<relative>.
inline std::string fixture(const std::string& relative) {
  std::ifstream in(std::string(TRACKER_SOURCE_DIR) + "/tests/data/" + relative, std::ios::binary);
  if (!in) throw std::runtime_error("missing test fixture " + relative);
  std::ostringstream text;
  text << in.rdbuf();
  std::string out = text.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace tracker::testing
