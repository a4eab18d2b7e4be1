#pragma once
#include <iosfwd>
#include <string>
#include <string_view>

namespace tracker::config {

// A credential read from the environment. It prints as "[redacted]" and has no implicit
// conversion to a string, so it cannot reach a log by accident; code that needs the value
// (an HMAC key, an Authorization header) asks for it with reveal().
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  [[nodiscard]] const std::string& reveal() const noexcept { return value_; }
  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

  friend std::ostream& operator<<(std::ostream& os, const Secret& secret);

 private:
  std::string value_;
};

}  // namespace tracker::config
